package netem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/florianl/go-tc/core"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/netem/impair"
)

// TCA_NETEM_* attribute types (include/uapi/linux/pkt_sched.h).
const (
	tcaNetemCorr      = 1
	tcaNetemDelayDist = 2
	tcaNetemReorder   = 3
	tcaNetemCorrupt   = 4
	tcaNetemLoss      = 5
	tcaNetemRate      = 6
	tcaNetemEcn       = 7
	tcaNetemRate64    = 8
	tcaNetemPad       = 9
	tcaNetemLatency64 = 10
	tcaNetemJitter64  = 11
	tcaNetemSlot      = 12
	tcaNetemSlotDist  = 13
	tcaNetemPrngSeed  = 14

	netemLossGI = 1 // 4-state model
	netemLossGE = 2 // Gilbert-Elliott
)

// NetemOptions is the TCA_OPTIONS payload of a netem qdisc: struct
// tc_netem_qopt followed by attributes. go-tc v0.4.8 neither encodes nor
// decodes TCA_NETEM_LOSS (and fails to decode a qdisc that carries it), so
// tcplab keeps its own codec for netem, compatible with go-tc's for the rest.
type NetemOptions struct {
	// struct tc_netem_qopt; Latency and Jitter in psched ticks.
	Latency, Limit, Loss, Gap, Duplicate, Jitter uint32

	Corr    *[3]uint32 // delay, loss, duplicate correlation
	Reorder *[2]uint32 // probability, correlation
	Corrupt *[2]uint32 // probability, correlation
	// Rate is struct tc_netem_rate: rate (bytes/s, ~0 when Rate64 holds
	// it), packet overhead, cell size, cell overhead.
	Rate      *[4]int64
	Rate64    *uint64
	Latency64 *int64 // ns
	Jitter64  *int64 // ns
	PrngSeed  *uint64
	// GE is TCA_NETEM_LOSS / NETEM_LOSS_GE: p, r, h, k1 (struct tc_netem_gemodel).
	GE *[4]uint32
	// GI is TCA_NETEM_LOSS / NETEM_LOSS_GI, kept when read back.
	GI *[5]uint32
	// DelayDist is the jitter distribution table (sent only).
	DelayDist []int16
	// Ecn is read back only.
	Ecn *uint32
}

func u32s(b []byte, n int) ([]uint32, error) {
	if len(b) < 4*n {
		return nil, fmt.Errorf("attribute of %d bytes, want %d", len(b), 4*n)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return out, nil
}

func putU32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// Encode returns the TCA_OPTIONS payload.
func (o *NetemOptions) Encode() ([]byte, error) {
	q := putU32s(o.Latency, o.Limit, o.Loss, o.Gap, o.Duplicate, o.Jitter)
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.NativeEndian
	if o.Corr != nil {
		ae.Bytes(tcaNetemCorr, putU32s(o.Corr[:]...))
	}
	if len(o.DelayDist) > 0 {
		b := make([]byte, 2*len(o.DelayDist))
		for i, v := range o.DelayDist {
			binary.NativeEndian.PutUint16(b[2*i:], uint16(v))
		}
		ae.Bytes(tcaNetemDelayDist, b)
	}
	if o.Reorder != nil {
		ae.Bytes(tcaNetemReorder, putU32s(o.Reorder[:]...))
	}
	if o.Corrupt != nil {
		ae.Bytes(tcaNetemCorrupt, putU32s(o.Corrupt[:]...))
	}
	if o.GE != nil || o.GI != nil {
		ge, gi := o.GE, o.GI
		ae.Nested(tcaNetemLoss, func(n *netlink.AttributeEncoder) error {
			if ge != nil {
				n.Bytes(netemLossGE, putU32s(ge[:]...))
			}
			if gi != nil {
				n.Bytes(netemLossGI, putU32s(gi[:]...))
			}
			return nil
		})
	}
	if r := o.Rate; r != nil {
		ae.Bytes(tcaNetemRate, putU32s(uint32(r[0]), uint32(int32(r[1])), uint32(int32(r[2])), uint32(int32(r[3]))))
	}
	if o.Rate64 != nil {
		ae.Uint64(tcaNetemRate64, *o.Rate64)
	}
	if o.Latency64 != nil {
		ae.Int64(tcaNetemLatency64, *o.Latency64)
	}
	if o.Jitter64 != nil {
		ae.Int64(tcaNetemJitter64, *o.Jitter64)
	}
	if o.PrngSeed != nil {
		ae.Uint64(tcaNetemPrngSeed, *o.PrngSeed)
	}
	attrs, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode netem options: %w", err)
	}
	return append(q, attrs...), nil
}

// DecodeNetemOptions parses a netem TCA_OPTIONS payload, loss models included.
func DecodeNetemOptions(b []byte) (NetemOptions, error) {
	var o NetemOptions
	q, err := u32s(b, 6)
	if err != nil {
		return o, fmt.Errorf("netem qopt: %w", err)
	}
	o.Latency, o.Limit, o.Loss, o.Gap, o.Duplicate, o.Jitter = q[0], q[1], q[2], q[3], q[4], q[5]
	ad, err := netlink.NewAttributeDecoder(b[24:])
	if err != nil {
		return o, fmt.Errorf("netem attributes: %w", err)
	}
	ad.ByteOrder = binary.NativeEndian
	var errs []error
	for ad.Next() {
		data := ad.Bytes()
		switch ad.Type() {
		case tcaNetemCorr:
			v, err := u32s(data, 3)
			if err == nil {
				o.Corr = (*[3]uint32)(v)
			}
			errs = append(errs, err)
		case tcaNetemReorder:
			v, err := u32s(data, 2)
			if err == nil {
				o.Reorder = (*[2]uint32)(v)
			}
			errs = append(errs, err)
		case tcaNetemCorrupt:
			v, err := u32s(data, 2)
			if err == nil {
				o.Corrupt = (*[2]uint32)(v)
			}
			errs = append(errs, err)
		case tcaNetemRate:
			v, err := u32s(data, 4)
			if err == nil {
				o.Rate = &[4]int64{int64(v[0]), int64(int32(v[1])), int64(int32(v[2])), int64(int32(v[3]))}
			}
			errs = append(errs, err)
		case tcaNetemRate64:
			v := ad.Uint64()
			o.Rate64 = &v
		case tcaNetemLatency64:
			v := ad.Int64()
			o.Latency64 = &v
		case tcaNetemJitter64:
			v := ad.Int64()
			o.Jitter64 = &v
		case tcaNetemPrngSeed:
			v := ad.Uint64()
			o.PrngSeed = &v
		case tcaNetemEcn:
			v := ad.Uint32()
			o.Ecn = &v
		case tcaNetemLoss:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				nd.ByteOrder = binary.NativeEndian
				for nd.Next() {
					switch nd.Type() {
					case netemLossGE:
						v, err := u32s(nd.Bytes(), 4)
						if err == nil {
							o.GE = (*[4]uint32)(v)
						}
						errs = append(errs, err)
					case netemLossGI:
						v, err := u32s(nd.Bytes(), 5)
						if err == nil {
							o.GI = (*[5]uint32)(v)
						}
						errs = append(errs, err)
					}
				}
				return nil
			})
		case tcaNetemDelayDist, tcaNetemPad, tcaNetemSlot, tcaNetemSlotDist:
			// Not used by tcplab; tolerated when read back.
		}
	}
	errs = append(errs, ad.Err())
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("decode netem options: %w", err)
	}
	return o, nil
}

// distTableSize is the length of the jitter distribution tables, as
// iproute2's (NETEM_DIST_MAX is 16384; its files hold 4096 entries).
const distTableSize = 4096

// netemDistScale is NETEM_DIST_SCALE: table values are σ units × 8192.
const netemDistScale = 8192

// DistTable returns netem's delay distribution table for d (nil for
// uniform, which netem computes without a table): the inverse CDF of the
// distribution with mean 0 and σ 1, scaled by 8192, at 4096 quantiles —
// the same distributions the userspace link draws from.
func DistTable(d impair.Distribution) []int16 {
	if d == "" || d == impair.Uniform {
		return nil
	}
	t := make([]int16, distTableSize)
	for i := range t {
		u := uint32((float64(i) + 0.5) / distTableSize * (1 << 32))
		v := impair.Jitter(d, u, 1) * netemDistScale
		t[i] = int16(math.Max(math.MinInt16, math.Min(math.MaxInt16, math.Round(v))))
	}
	return t
}

// NetemFor encodes an impairment as netem options (tick maths needs
// core.InitializeClock, done by initClock).
func NetemFor(im impair.Impairment) (NetemOptions, error) {
	if err := initClock(); err != nil {
		return NetemOptions{}, err
	}
	ticks := func(d time.Duration) uint32 {
		us := d.Microseconds()
		if us > math.MaxUint32 {
			us = math.MaxUint32
		}
		return core.Time2Tick(uint32(us))
	}
	lat, jit := int64(im.Delay), int64(im.Jitter)
	o := NetemOptions{
		Latency:   ticks(im.Delay),
		Jitter:    ticks(im.Jitter),
		Limit:     im.QueueLimit(), // never 0: netem's limit 0 drops everything
		Loss:      impair.Prob32(im.Loss),
		Duplicate: impair.Prob32(im.Duplicate),
		Latency64: &lat,
		Jitter64:  &jit,
		Corr:      &[3]uint32{impair.Prob32(im.DelayCorrelation), impair.Prob32(im.LossCorrelation), impair.Prob32(im.DuplicateCorrelation)},
		Corrupt:   &[2]uint32{impair.Prob32(im.Corrupt), impair.Prob32(im.CorruptCorrelation)},
		DelayDist: DistTable(im.Distribution),
	}
	if im.Delay > 0 && o.Latency == 0 {
		return o, errors.New("netem latency computed as 0 ticks (psched clock not initialised)")
	}
	if r := im.Reorder; r != nil {
		o.Reorder = &[2]uint32{impair.Prob32(r.Probability), impair.Prob32(r.Correlation)}
		o.Gap = r.Gap
		if o.Gap == 0 {
			o.Gap = 1 // as iproute2: reorder without gap means gap 1
		}
	}
	if g := im.GE; g != nil {
		o.GE = &[4]uint32{impair.Prob32(g.P), impair.Prob32(g.R), impair.Prob32(1 - g.OneMinusH), impair.Prob32(g.OneMinusK)}
	}
	if im.RateBits > 0 {
		bps := im.RateBits / 8
		r := &[4]int64{int64(bps), int64(im.Overhead), 0, 0}
		if bps >= 1<<32 {
			r[0] = math.MaxUint32
			o.Rate64 = &bps
		}
		o.Rate = r
	}
	if im.Seed != 0 {
		s := im.Seed
		o.PrngSeed = &s
	}
	if im.Blackhole {
		o.Loss, o.GE = math.MaxUint32, nil // a partition: every packet lost
	}
	if im.ResetReply {
		return o, errors.New("answering packets with RSTs (reboot) needs the userspace link: set link.backend: userspace or auto")
	}
	if im.Trace != nil {
		return o, errors.New("a delivery trace (link.*.trace) needs the userspace link: netem has no per-opportunity delivery; set link.backend: userspace or auto")
	}
	return o, nil
}

// sameNetem compares what tcplab asked with what the kernel reports back
// (the kernel does not report the distribution table, and reports zero
// correlations and rates as zero-valued attributes).
func sameNetem(want, got NetemOptions) error {
	var diffs []string
	cmp := func(name string, w, g any) {
		if fmt.Sprint(w) != fmt.Sprint(g) {
			diffs = append(diffs, fmt.Sprintf("%s asked %v, kernel holds %v", name, w, g))
		}
	}
	cmp("limit", want.Limit, got.Limit)
	cmp("loss", want.Loss, got.Loss)
	cmp("duplicate", want.Duplicate, got.Duplicate)
	cmp("gap", want.Gap, got.Gap)
	deref := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	cmp("latency", deref(want.Latency64), deref(got.Latency64))
	cmp("jitter", deref(want.Jitter64), deref(got.Jitter64))
	cmp("loss model", fmt.Sprint(want.GE), fmt.Sprint(got.GE))
	rate := func(o NetemOptions) int64 {
		if o.Rate64 != nil {
			return int64(*o.Rate64)
		}
		if o.Rate != nil {
			return o.Rate[0]
		}
		return 0
	}
	cmp("rate", rate(want), rate(got))
	if want.Reorder != nil {
		cmp("reorder", *want.Reorder, fmt.Sprint(derefArr2(got.Reorder)))
	}
	if len(diffs) > 0 {
		return errors.New(fmt.Sprint(diffs))
	}
	return nil
}

func derefArr2(p *[2]uint32) [2]uint32 {
	if p == nil {
		return [2]uint32{}
	}
	return *p
}

// tcmsg is struct tcmsg.
func tcmsg(ifindex uint32, handle, parent uint32) []byte {
	b := make([]byte, 20)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], ifindex)
	binary.NativeEndian.PutUint32(b[8:], handle)
	binary.NativeEndian.PutUint32(b[12:], parent)
	return b
}

const (
	tcaKind    = 1
	tcaOptions = 2
	handleRoot = 0xFFFFFFFF
)

// applyNetem replaces the root qdisc of ifindex in namespace ns with netem
// carrying im, then reads it back and compares.
func applyNetem(ns netns.NsHandle, ifname string, ifindex uint32, im impair.Impairment) error {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(ns)})
	if err != nil {
		return fmt.Errorf("apply netem on %s: open rtnetlink: %w", ifname, err)
	}
	defer c.Close()
	return applyNetemOn(c, ifname, ifindex, im)
}

// applyNetemOn is applyNetem over an open rtnetlink connection (a test
// passes a fake kernel's).
func applyNetemOn(c *netlink.Conn, ifname string, ifindex uint32, im impair.Impairment) error {
	o, err := NetemFor(im)
	if err != nil {
		return fmt.Errorf("apply netem on %s: %w", ifname, err)
	}
	opts, err := o.Encode()
	if err != nil {
		return fmt.Errorf("apply netem on %s: %w", ifname, err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(tcaKind, "netem")
	ae.Bytes(tcaOptions, opts)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWQDISC, Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Replace},
		Data:   append(tcmsg(ifindex, 0x10000, handleRoot), attrs...),
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("apply netem on %s: the kernel has no sch_netem (%w); use link.backend: userspace", ifname, err)
		}
		return fmt.Errorf("apply netem on %s: %w", ifname, err)
	}
	got, err := readNetem(c, ifindex)
	if err != nil {
		return fmt.Errorf("read back netem on %s: %w", ifname, err)
	}
	if err := sameNetem(o, got); err != nil {
		return fmt.Errorf("netem on %s differs from what was asked: %w", ifname, err)
	}
	return nil
}

// readNetem dumps the qdiscs and decodes the root netem on ifindex.
func readNetem(c *netlink.Conn, ifindex uint32) (NetemOptions, error) {
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETQDISC, Flags: netlink.Request | netlink.Dump},
		Data:   tcmsg(0, 0, 0),
	})
	if err != nil {
		return NetemOptions{}, err
	}
	for _, m := range msgs {
		if len(m.Data) < 20 || binary.NativeEndian.Uint32(m.Data[4:]) != ifindex || binary.NativeEndian.Uint32(m.Data[12:]) != handleRoot {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[20:])
		if err != nil {
			return NetemOptions{}, err
		}
		var kind string
		var opts []byte
		for ad.Next() {
			switch ad.Type() {
			case tcaKind:
				kind = ad.String()
			case tcaOptions:
				opts = ad.Bytes()
			}
		}
		if kind == "netem" {
			return DecodeNetemOptions(opts)
		}
	}
	return NetemOptions{}, fmt.Errorf("no root netem qdisc on ifindex %d", ifindex)
}

// deleteRootQdisc removes the root qdisc of ifindex, if one was added.
func deleteRootQdisc(ns netns.NsHandle, ifname string, ifindex uint32) error {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(ns)})
	if err != nil {
		return fmt.Errorf("remove qdisc on %s: open rtnetlink: %w", ifname, err)
	}
	defer c.Close()
	return deleteRootQdiscOn(c, ifname, ifindex)
}

// deleteRootQdiscOn is deleteRootQdisc over an open rtnetlink connection.
func deleteRootQdiscOn(c *netlink.Conn, ifname string, ifindex uint32) error {
	_, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_DELQDISC, Flags: netlink.Request | netlink.Acknowledge},
		Data:   tcmsg(ifindex, 0, handleRoot),
	})
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("remove qdisc on %s: %w", ifname, err)
	}
	return nil
}
