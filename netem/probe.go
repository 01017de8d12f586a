package netem

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ProbeStatus is the answer of one probe.
type ProbeStatus int

const (
	// Available: the host has it.
	Available ProbeStatus = iota
	// Missing: the probe ran and the host does not have it.
	Missing
	// Unknown: the probe could not tell (for example, no privilege to try).
	Unknown
)

// Feature is what one probe asks of the host.
type Feature string

// The features Probe asks about, in its order.
const (
	FeaturePrivileges Feature = "privileges"
	FeatureNamespaces Feature = "network namespaces"
	FeatureVeth       Feature = "veth"
	FeatureTUN        Feature = "tun"
	FeatureTbf        Feature = "tbf (sch_tbf)"
	FeatureNetem      Feature = "netem (sch_netem)"
	FeatureKernel     Feature = "kernel"
	FeatureTCPInfo    Feature = "tcp_info length"
	FeatureCongestion Feature = "congestion control"
)

// ProbeResult is what one probe found.
type ProbeResult struct {
	Feature Feature
	Name    string // the feature as people read it
	Status  ProbeStatus
	Detail  string
	Meaning string // what it means for tcplab when not Available
}

// ErrNotSupported wraps every "the host does not have it" answer.
var ErrNotSupported = errors.New("not supported")

// Probe runs every probe. Each kernel feature is tried for real in a
// throwaway namespace that vanishes afterwards; the root namespace is not
// touched.
func Probe() []ProbeResult {
	var out []ProbeResult
	add := func(f Feature, meaning string, detail string, err error) {
		r := ProbeResult{Feature: f, Name: string(f), Detail: detail, Meaning: meaning}
		switch {
		case err == nil:
			r.Status = Available
		case errors.Is(err, ErrNotSupported):
			r.Status, r.Detail = Missing, err.Error()
		default:
			r.Status, r.Detail = Unknown, err.Error()
		}
		out = append(out, r)
	}
	priv := HavePrivileges()
	add(FeaturePrivileges, "tcplab run needs root or CAP_NET_ADMIN+CAP_SYS_ADMIN: run it with sudo", privDetail(priv), priv)
	add(FeatureNamespaces, "no lab can be built on this host", "", HaveNamespaces())
	add(FeatureVeth, "the two namespaces cannot be joined: no lab can be built", "", HaveVeth())
	add(FeatureTUN, "the userspace link backend cannot run", "", HaveTUN())
	add(FeatureTbf, "link rate limits cannot be applied", "", HaveQdisc("tbf"))
	add(FeatureNetem, "the kernel netem backend is unavailable; delay, jitter and loss need the userspace link backend", "", HaveQdisc("netem"))
	add(FeatureKernel, "", KernelRelease(), nil)
	n, err := TCPInfoLen()
	detail := ""
	if err == nil {
		detail = fmt.Sprintf("%d bytes (%s)", n, tcpInfoKernel(n))
	}
	add(FeatureTCPInfo, "fields past this length are reported absent", detail, err)
	cc, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	add(FeatureCongestion, "", strings.TrimSpace(string(cc)), err)
	return out
}

func privDetail(err error) string {
	if err != nil {
		return ""
	}
	if os.Geteuid() == 0 && Rootless() {
		return "root of its own user namespace (rootless)"
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	return "CAP_NET_ADMIN and CAP_SYS_ADMIN"
}

func tcpInfoKernel(n int) string {
	switch {
	case n >= 280:
		return "complete through kernel 6.18"
	case n >= 248:
		return "kernel 6.7+: no AccECN counters"
	case n >= 240:
		return "kernel 6.2+: no total_rto counters"
	case n >= 232:
		return "kernel 5.4+: no rcv_wnd"
	case n >= 192:
		return "kernel 4.10+: chronos present, no snd_wnd"
	}
	return "older than 4.10: no busy/rwnd/sndbuf chronos, the verdict cannot be decided"
}

// HavePrivileges reports whether this process may create namespaces and links.
func HavePrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(unix.CAP_NET_ADMIN) && has(unix.CAP_SYS_ADMIN) {
		return nil
	}
	return fmt.Errorf("%w: not root and lacking CAP_NET_ADMIN/CAP_SYS_ADMIN", ErrNotSupported)
}

func notSupported(err error, kernel string) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%w: %v (%s)", ErrNotSupported, err, kernel)
	}
	return err
}

// HaveNamespaces creates and drops a network namespace.
func HaveNamespaces() error {
	err := DoNew(func() error { return nil })
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w: %v (needs CONFIG_NET_NS)", ErrNotSupported, err)
	}
	return err
}

// HaveVeth creates a veth pair in a throwaway namespace.
func HaveVeth() error {
	return DoNew(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		err = h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tcplab-p0"}, PeerName: "tcplab-p1"})
		return notSupported(err, "needs CONFIG_VETH")
	})
}

// HaveTUN creates a TUN device in a throwaway namespace.
func HaveTUN() error {
	return DoNew(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return notSupported(err, "needs CONFIG_TUN and /dev/net/tun")
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq("tcplab-tun")
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(ifr)))
		if e != 0 {
			return notSupported(e, "TUNSETIFF")
		}
		return nil
	})
}

// HaveQdisc adds a qdisc of kind ("tbf" or "netem") to lo in a throwaway
// namespace: the kernel answers ENOENT for a kind it does not have.
func HaveQdisc(kind string) error {
	if err := initClock(); err != nil {
		return err
	}
	return DoNew(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := h.LinkSetUp(lo); err != nil {
			return err
		}
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			return err
		}
		defer self.Close()
		tcnl, err := tc.Open(&tc.Config{NetNS: int(self.Fd())})
		if err != nil {
			return err
		}
		defer tcnl.Close()
		var obj *tc.Object
		switch kind {
		case "tbf":
			obj, err = tbfObject(uint32(lo.Attrs().Index), TbfFor(10e6))
			if err != nil {
				return err
			}
		case "netem":
			lat := int64(1e6)
			obj = &tc.Object{
				Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(lo.Attrs().Index), Handle: core.BuildHandle(0x1, 0), Parent: tc.HandleRoot},
				Attribute: tc.Attribute{Kind: "netem", Netem: &tc.Netem{Qopt: tc.NetemQopt{Limit: 1000}, Latency64: &lat}},
			}
		default:
			return fmt.Errorf("no probe for qdisc %q", kind)
		}
		if err := tcnl.Qdisc().Add(obj); err != nil {
			return notSupported(err, "the kernel lacks sch_"+kind)
		}
		return nil
	})
}

// TCPInfoLen returns how many bytes of tcp_info this kernel returns.
func TCPInfoLen() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open TCP socket: %w", err)
	}
	defer unix.Close(fd)
	var buf [512]byte
	n := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO, uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, fmt.Errorf("getsockopt TCP_INFO: %w", e)
	}
	return int(n), nil
}

// KernelRelease returns uname -r.
func KernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
