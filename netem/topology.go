package netem

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/netem/userspace"
)

// The directions of the link (impair's vocabulary: Down carries data from
// the sender to the receiver, Up the receiver's ACKs and data back).
const (
	Down = impair.Down
	Up   = impair.Up
)

// Backend is what joins and impairs the two namespaces.
type Backend string

// The backends.
const (
	// Kernel joins the namespaces with a veth pair and impairs each
	// direction with qdiscs on the egress of its veth end: tbf when only a
	// rate is asked, netem otherwise.
	Kernel Backend = "netem"
	// Userspace joins them through two TUN devices and tcplab's emulator.
	Userspace Backend = "userspace"
)

// Backends is the one table of backends (a scenario's link.backend is
// these or auto: a test in lab holds scenario.Backends to it).
var Backends = []Backend{Kernel, Userspace}

// MarshalText writes the backend's name.
func (b Backend) MarshalText() ([]byte, error) { return []byte(b), nil }

// UnmarshalText reads a backend's name and refuses any other text.
func (b *Backend) UnmarshalText(t []byte) error {
	return vocab.Parse(b, Backends, string(t), "backend")
}

// Config describes the lab of one run.
type Config struct {
	// RunID names the run; empty picks a fresh one.
	RunID string
	// Backend is Kernel (the default when empty) or Userspace.
	Backend Backend
	// Down impairs sender → receiver, Up receiver → sender.
	Down, Up impair.Impairment
	// Capture, when set, receives a pcap of what crossed the link (userspace
	// backend only), cut at CaptureSnaplen bytes per packet.
	Capture        io.Writer
	CaptureSnaplen int
	// Middlebox, when its idle timeout is set, puts a NAT or firewall that
	// forgets idle flows on the link (userspace backend only).
	Middlebox userspace.Middlebox
	// Observer, when set, is told of every packet crossing the link, both
	// ways: by the userspace link as it reads them, on the kernel backend
	// through a packet socket on the sender's veth end (headers only).
	Observer userspace.Observer
}

// Endpoint is one side of the lab: its namespace and its end of the veth pair.
type Endpoint struct {
	Namespace string         // e.g. tcplab-1a2b3c4d-snd
	NS        netns.NsHandle // open handle; valid until Topology.Close
	Link      string         // interface name inside the namespace
	Addr      netip.Prefix   // address with its /30
}

// Topology is a run's lab: two namespaces joined by a veth pair.
type Topology struct {
	RunID    string
	Slot     int
	Sender   Endpoint
	Receiver Endpoint
	// Backend is the backend in use.
	Backend Backend
	// Applied describes the impairments applied, for the run's record.
	Applied []string

	link *userspace.Link
	tap  *tap
	undo []func() error
}

// Veth end names inside the namespaces.
const (
	SenderLink   = "tcplab-s"
	ReceiverLink = "tcplab-r"
)

// NamespaceName returns the name of a run's namespace for side "snd" or "rcv".
func NamespaceName(runID, side string) string { return Prefix + runID + "-" + side }

// Build creates the lab described by cfg. On any error it removes whatever it
// had created before returning.
func Build(cfg Config) (t *Topology, err error) {
	if cfg.RunID == "" {
		cfg.RunID = NewRunID()
	}
	t = &Topology{RunID: cfg.RunID}
	defer func() {
		if err != nil {
			if cerr := t.Close(); cerr != nil {
				err = fmt.Errorf("%w (cleanup after failure: %v)", err, cerr)
			}
			t = nil
		}
	}()
	slot, err := allocSlot(cfg.RunID)
	if err != nil {
		return t, err
	}
	t.Slot = slot
	t.undo = append(t.undo, func() error {
		// Keep the slot while a namespace of the run remains, so that
		// `tcplab cleanup` still finds the run.
		if len(RunNamespaces(t.RunID)) > 0 {
			return fmt.Errorf("address slot %d kept: namespaces of run %s remain", slot, t.RunID)
		}
		return freeSlot(slot)
	})
	sa, ra := SlotAddrs(slot)
	t.Sender = Endpoint{Namespace: NamespaceName(cfg.RunID, "snd"), Link: SenderLink, Addr: sa, NS: netns.None()}
	t.Receiver = Endpoint{Namespace: NamespaceName(cfg.RunID, "rcv"), Link: ReceiverLink, Addr: ra, NS: netns.None()}
	for _, ep := range []*Endpoint{&t.Sender, &t.Receiver} {
		h, err := createNamed(ep.Namespace)
		if err != nil {
			return t, err
		}
		ep.NS = h
		name := ep.Namespace
		t.undo = append(t.undo, func() error { return deleteNamed(name) })
	}
	for _, im := range []*impair.Impairment{&cfg.Down, &cfg.Up} {
		if err := im.Validate(); err != nil {
			return t, err
		}
	}
	t.Backend = cfg.Backend
	if t.Backend == "" {
		t.Backend = Kernel
	}
	switch t.Backend {
	case Kernel:
		if err := t.wire(); err != nil {
			return t, err
		}
		for _, d := range []struct {
			dir impair.Dir
			ep  *Endpoint
			im  impair.Impairment
		}{{Down, &t.Sender, cfg.Down}, {Up, &t.Receiver, cfg.Up}} {
			desc, err := t.applyKernel(d.ep, d.im)
			if err != nil {
				return t, fmt.Errorf("impair %s direction: %w", d.dir, err)
			}
			if desc != "" {
				t.Applied = append(t.Applied, string(d.dir)+": "+desc)
			}
		}
		if cfg.Observer != nil {
			tp, err := startTap(t.Sender.NS, t.Sender.Link, true, cfg.Observer)
			if err != nil {
				return t, err
			}
			t.tap = tp
			t.undo = append(t.undo, tp.close)
		}
	case Userspace:
		if err := t.wireTUN(cfg.Down, cfg.Up); err != nil {
			return t, err
		}
		t.link.SetMiddlebox(cfg.Middlebox)
		if cfg.Observer != nil {
			t.link.Observe(cfg.Observer)
		}
		if cfg.Capture != nil {
			if err := t.link.Capture(cfg.Capture, cfg.CaptureSnaplen); err != nil {
				return t, fmt.Errorf("start capture: %w", err)
			}
		}
	default:
		return t, fmt.Errorf("unknown backend %q (accepted: %s, %s)", cfg.Backend, Kernel, Userspace)
	}
	if cfg.Middlebox.IdleTimeout > 0 && t.link == nil {
		return t, fmt.Errorf("a middlebox that forgets idle flows needs the userspace backend (link.backend: userspace)")
	}
	if cfg.Capture != nil && t.link == nil {
		return t, fmt.Errorf("a capture of the link needs the userspace backend (link.backend: userspace)")
	}
	return t, nil
}

// wire creates the veth pair inside the sender's namespace with its peer end
// placed directly in the receiver's (the root namespace never sees it),
// addresses both ends and brings them and loopback up.
func (t *Topology) wire() error {
	hs, err := netlink.NewHandleAt(t.Sender.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink in %s: %w", t.Sender.Namespace, err)
	}
	defer hs.Close()
	hr, err := netlink.NewHandleAt(t.Receiver.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink in %s: %w", t.Receiver.Namespace, err)
	}
	defer hr.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: SenderLink, MTU: 1500, TxQLen: 1000},
		PeerName:      ReceiverLink,
		PeerNamespace: netlink.NsFd(int(t.Receiver.NS)),
	}
	if err := hs.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s/%s between %s and %s: %w", SenderLink, ReceiverLink, t.Sender.Namespace, t.Receiver.Namespace, err)
	}
	for _, x := range []struct {
		h  *netlink.Handle
		ep *Endpoint
	}{{hs, &t.Sender}, {hr, &t.Receiver}} {
		if err := upWithAddr(x.h, x.ep); err != nil {
			return err
		}
	}
	return nil
}

func upWithAddr(h *netlink.Handle, ep *Endpoint) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in %s: %w", ep.Namespace, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up in %s: %w", ep.Namespace, err)
	}
	l, err := h.LinkByName(ep.Link)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", ep.Link, ep.Namespace, err)
	}
	addr := &netlink.Addr{IPNet: prefixToIPNet(ep.Addr)}
	if err := h.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("add address %s to %s in %s: %w", ep.Addr, ep.Link, ep.Namespace, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up in %s: %w", ep.Link, ep.Namespace, err)
	}
	return nil
}

// applyKernel impairs the egress of ep's veth end: nothing, a tbf for a
// rate alone, or a netem qdisc.
func (t *Topology) applyKernel(ep *Endpoint, im impair.Impairment) (string, error) {
	idx, err := linkIndex(ep)
	if err != nil {
		return "", err
	}
	if im.IsZero() {
		// Back to the veth's own default: remove any root qdisc tcplab set.
		return "", deleteRootQdisc(ep.NS, ep.Link, uint32(idx))
	}
	if RateOnly(im) {
		if im.RateBits > MaxTbfRate {
			return "", fmt.Errorf("rate %d bit/s above tbf's maximum %d bit/s", im.RateBits, MaxTbfRate)
		}
		if err := applyTbf(ep.NS, ep.Link, uint32(idx), TbfFor(im.RateBits)); err != nil {
			return "", err
		}
		return fmt.Sprintf("tbf on %s in %s, rate %d bit/s", ep.Link, ep.Namespace, im.RateBits), nil
	}
	if err := applyNetem(ep.NS, ep.Link, uint32(idx), im); err != nil {
		return "", err
	}
	return fmt.Sprintf("netem on %s in %s", ep.Link, ep.Namespace), nil
}

// RateOnly reports whether im asks for nothing but a rate, which tbf
// shapes without sch_netem.
func RateOnly(im impair.Impairment) bool {
	r := im
	r.RateBits, r.Limit, r.Seed, r.Overhead = 0, 0, 0, 0
	return r.IsZero() && im.RateBits > 0 && im.Overhead == 0
}

// SetImpairment changes one direction ("down" or "up") while the run goes on.
func (t *Topology) SetImpairment(dir impair.Dir, im impair.Impairment) error {
	i := userspace.Down
	ep := &t.Sender
	if dir == Up {
		i, ep = userspace.Up, &t.Receiver
	}
	if t.link != nil {
		return t.link.Set(i, im)
	}
	_, err := t.applyKernel(ep, im)
	return err
}

// MiddleboxExpiries returns the flows the link's middlebox forgot so far
// (nil for the kernel backend).
func (t *Topology) MiddleboxExpiries() []userspace.Expiry {
	if t.link == nil {
		return nil
	}
	return t.link.Expiries()
}

// MiddleboxRefusals returns the first packet of each direction of each
// forgotten flow that the link's middlebox refused (nil for the kernel
// backend).
func (t *Topology) MiddleboxRefusals() []userspace.Refusal {
	if t.link == nil {
		return nil
	}
	return t.link.Refusals()
}

// LinkStats returns the userspace link's counters per direction (nil for
// the kernel backend).
func (t *Topology) LinkStats() map[impair.Dir]userspace.Stats {
	if t.link == nil {
		return nil
	}
	return map[impair.Dir]userspace.Stats{Down: t.link.Stats(userspace.Down), Up: t.link.Stats(userspace.Up)}
}

func linkIndex(ep *Endpoint) (int, error) {
	h, err := netlink.NewHandleAt(ep.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("open netlink in %s: %w", ep.Namespace, err)
	}
	defer h.Close()
	l, err := h.LinkByName(ep.Link)
	if err != nil {
		return 0, fmt.Errorf("find %s in %s: %w", ep.Link, ep.Namespace, err)
	}
	return l.Attrs().Index, nil
}

// Close removes everything Build created, in reverse order: processes still
// in the namespaces are killed, the namespaces (and with them the veth pair
// and its qdiscs) are removed, and the address slot is released. It is safe
// to call more than once.
func (t *Topology) Close() error {
	var errs []error
	for _, ep := range []*Endpoint{&t.Sender, &t.Receiver} {
		if ep.Namespace != "" {
			if err := killProcsInNamespace(ep.Namespace); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i := len(t.undo) - 1; i >= 0; i-- {
		if err := t.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	t.undo = nil
	for _, ep := range []*Endpoint{&t.Sender, &t.Receiver} {
		if ep.NS.IsOpen() {
			ep.NS.Close()
		}
	}
	return errors.Join(errs...)
}

// ObserverMissed counts the packets the Observer was not told of: those a
// kernel backend's packet socket could not keep (0 on the userspace link,
// which tells it of every packet it reads).
func (t *Topology) ObserverMissed() uint64 {
	if t.tap == nil {
		return 0
	}
	return t.tap.Drops()
}

// StopObserving stops telling the Observer of packets (its record is then
// complete); Close does it too.
func (t *Topology) StopObserving() {
	if t.link != nil {
		t.link.Observe(nil)
	}
	if t.tap != nil {
		t.tap.stopOnce()
	}
}

// SetLinksUp brings both ends' interfaces up or down (a link-down partition).
func (t *Topology) SetLinksUp(up bool) error {
	for _, ep := range []*Endpoint{&t.Sender, &t.Receiver} {
		h, err := netlink.NewHandleAt(ep.NS, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("open netlink in %s: %w", ep.Namespace, err)
		}
		l, err := h.LinkByName(ep.Link)
		if err == nil {
			if up {
				err = h.LinkSetUp(l)
			} else {
				err = h.LinkSetDown(l)
			}
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("set %s in %s up=%v: %w", ep.Link, ep.Namespace, up, err)
		}
	}
	return nil
}
