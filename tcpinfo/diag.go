package tcpinfo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// sock_diag (inet_diag) constants from include/uapi/linux/inet_diag.h.
const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY

	diagMsgLen = 72 // struct inet_diag_msg
	diagReqLen = 56 // struct inet_diag_req_v2

	attrMemInfo   = 1
	attrInfo      = 2
	attrVegasInfo = 3
	attrCong      = 4
	attrSkMemInfo = 7
	attrBBRInfo   = 16
)

// DiagExt are the attributes a dump asks for: tcp_info, the congestion
// control's name, socket memory, and BBR's model (requested through the
// VEGAS bit, which the kernel answers with INET_DIAG_BBRINFO for bbr).
const DiagExt = 1<<(attrInfo-1) | 1<<(attrVegasInfo-1) | 1<<(attrCong-1) | 1<<(attrSkMemInfo-1)

// TCP states for DiagFilter.States (1 << TCP_*).
const (
	StateEstablished = 1 << 1
	StateSynSent     = 1 << 2
	StateSynRecv     = 1 << 3
	StateFinWait1    = 1 << 4
	StateFinWait2    = 1 << 5
	StateTimeWait    = 1 << 6
	StateClose       = 1 << 7
	StateCloseWait   = 1 << 8
	StateLastAck     = 1 << 9
	StateListen      = 1 << 10
	StateClosing     = 1 << 11
	StateAll         = 0xfff
)

// DiagFilter selects the sockets of a dump.
type DiagFilter struct {
	// Family is unix.AF_INET, unix.AF_INET6, or 0 for both.
	Family uint8
	// States is a mask of State* bits; 0 means StateAll.
	States uint32
	// SrcPort and DstPort keep only sockets with that local / remote port
	// (0: any). Applied after the kernel's dump.
	SrcPort, DstPort uint16
	// Ext selects the attributes (bits 1 << (INET_DIAG_x - 1)); 0 means DiagExt.
	Ext uint8
}

// BBRInfo is struct tcp_bbr_info: BBR's bandwidth and RTT model.
type BBRInfo struct {
	Bw         uint64 `json:"bw"`      // bytes/s (bbr_bw_hi << 32 | bbr_bw_lo)
	MinRTT     uint32 `json:"min_rtt"` // µs
	PacingGain uint32 `json:"pacing_gain"`
	CwndGain   uint32 `json:"cwnd_gain"`
}

// DiagSocket is one socket of a sock_diag dump. Attributes the kernel did
// not send are marked absent (Has*), never reported as zero.
type DiagSocket struct {
	Family  uint8
	State   uint8
	Timer   uint8 // 4: zero-window probe timer pending
	Retrans uint8
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Ifindex uint32
	Cookie  uint64
	UID     uint32
	Inode   uint32
	// RQueue is bytes received but not read by the application
	// (rcv_nxt - copied_seq); WQueue is write_seq - snd_una.
	RQueue, WQueue uint32

	Info    Info
	HasInfo bool
	Mem     MemInfo
	HasMem  bool
	Cong    string
	BBR     BBRInfo
	HasBBR  bool

	congBuf [16]byte
}

// ErrTruncated reports a message shorter than its headers say.
var ErrTruncated = errors.New("truncated sock_diag message")

// ParseDiag parses one inet_diag_msg and its attributes (the payload of one
// netlink message) into s. It allocates nothing.
func ParseDiag(b []byte, s *DiagSocket) error {
	if len(b) < diagMsgLen {
		return fmt.Errorf("%w: %d bytes, inet_diag_msg needs %d", ErrTruncated, len(b), diagMsgLen)
	}
	*s = DiagSocket{}
	s.Family, s.State, s.Timer, s.Retrans = b[0], b[1], b[2], b[3]
	sport, dport := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
	switch s.Family {
	case unix.AF_INET:
		s.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), sport)
		s.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[24:28])), dport)
	case unix.AF_INET6:
		s.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), sport)
		s.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), dport)
	default:
		return fmt.Errorf("sock_diag: unknown address family %d", s.Family)
	}
	ne := binary.NativeEndian
	s.Ifindex = ne.Uint32(b[40:])
	s.Cookie = uint64(ne.Uint32(b[44:])) | uint64(ne.Uint32(b[48:]))<<32
	s.RQueue, s.WQueue, s.UID, s.Inode = ne.Uint32(b[56:]), ne.Uint32(b[60:]), ne.Uint32(b[64:]), ne.Uint32(b[68:])
	a := b[diagMsgLen:]
	for len(a) >= 4 {
		l := int(ne.Uint16(a))
		typ := ne.Uint16(a[2:]) & 0x3fff
		if l < 4 || l > len(a) {
			return fmt.Errorf("%w: attribute %d of length %d in %d bytes", ErrTruncated, typ, l, len(a))
		}
		v := a[4:l]
		switch typ {
		case attrInfo:
			if len(v) >= 8 {
				if err := s.Info.Decode(v); err != nil {
					return err
				}
				s.HasInfo = true
			}
		case attrSkMemInfo:
			if len(v) >= 4*MemInfoCount {
				m := &s.Mem
				m.RmemAlloc, m.Rcvbuf, m.WmemAlloc, m.Sndbuf = ne.Uint32(v), ne.Uint32(v[4:]), ne.Uint32(v[8:]), ne.Uint32(v[12:])
				m.FwdAlloc, m.WmemQueued, m.Optmem, m.Backlog, m.Drops = ne.Uint32(v[16:]), ne.Uint32(v[20:]), ne.Uint32(v[24:]), ne.Uint32(v[28:]), ne.Uint32(v[32:])
				s.HasMem = true
			}
		case attrCong:
			n := copy(s.congBuf[:], v)
			for n > 0 && s.congBuf[n-1] == 0 {
				n--
			}
			s.Cong = congName(s.congBuf[:n])
		case attrBBRInfo:
			if len(v) >= 20 {
				s.BBR = BBRInfo{Bw: uint64(ne.Uint32(v[4:]))<<32 | uint64(ne.Uint32(v)), MinRTT: ne.Uint32(v[8:]), PacingGain: ne.Uint32(v[12:]), CwndGain: ne.Uint32(v[16:])}
				s.HasBBR = true
			}
		}
		a = a[min((l+3)&^3, len(a)):]
	}
	return nil
}

// congNames interns the congestion-control names so parsing allocates nothing.
var congNames = []string{"bbr", "cubic", "reno", "dctcp", "htcp", "vegas", "westwood", "bic", "hybla", "illinois", "scalable", "veno", "yeah", "lp", "nv", "cdg", "highspeed", "bbr3"}

func congName(b []byte) string {
	for _, n := range congNames {
		if string(b) == n {
			return n
		}
	}
	return string(b) // an unknown name: allocated once per socket
}

// DiagConn dumps sockets over a NETLINK_SOCK_DIAG socket. Open the socket
// inside the namespace to be dumped (OpenDiagSocket on a thread in it): a
// netlink socket answers for the namespace it was created in, whatever
// thread later uses it.
type DiagConn struct {
	fd  int
	buf []byte
	req [16 + diagReqLen]byte
	seq uint32
	s   DiagSocket
}

// OpenDiagSocket creates a NETLINK_SOCK_DIAG socket in the calling thread's
// network namespace.
func OpenDiagSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("open NETLINK_SOCK_DIAG socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind NETLINK_SOCK_DIAG socket: %w", err)
	}
	return fd, nil
}

// NewDiagConn wraps a socket from OpenDiagSocket; the DiagConn owns it.
func NewDiagConn(fd int) *DiagConn {
	return &DiagConn{fd: fd, buf: make([]byte, 64<<10)}
}

// Close closes the socket.
func (c *DiagConn) Close() error { return unix.Close(c.fd) }

// Dump asks the kernel for the TCP sockets matching f, of each family asked,
// and calls fn for each with a DiagSocket that is reused for the next (copy
// what you keep). Steady state allocates nothing.
func (c *DiagConn) Dump(f DiagFilter, fn func(*DiagSocket)) error {
	fams := [2]uint8{unix.AF_INET, unix.AF_INET6}
	for _, fam := range fams {
		if f.Family != 0 && f.Family != fam {
			continue
		}
		if err := c.dumpFamily(fam, f, fn); err != nil {
			return err
		}
	}
	return nil
}

// request builds the SOCK_DIAG_BY_FAMILY dump request for fam in c.req.
func (c *DiagConn) request(fam uint8, states uint32, ext uint8) []byte {
	c.seq++
	ne := binary.NativeEndian
	r := c.req[:]
	clear(r)
	ne.PutUint32(r[0:], uint32(len(r)))
	ne.PutUint16(r[4:], sockDiagByFamily)
	ne.PutUint16(r[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(r[8:], c.seq)
	q := r[16:]
	if ext == 0 {
		ext = DiagExt
	}
	q[0], q[1], q[2] = fam, unix.IPPROTO_TCP, ext
	if states == 0 {
		states = StateAll
	}
	ne.PutUint32(q[4:], states)
	return r
}

func (c *DiagConn) dumpFamily(fam uint8, f DiagFilter, fn func(*DiagSocket)) error {
	// The socket is bound; a plain write goes to the kernel (pid 0), and
	// neither write nor read allocates a sockaddr.
	if _, err := unix.Write(c.fd, c.request(fam, f.States, f.Ext)); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	ne := binary.NativeEndian
	for {
		n, err := unix.Read(c.fd, c.buf)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("sock_diag receive: %w", err)
		}
		b := c.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(ne.Uint32(b))
			typ := ne.Uint16(b[4:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("%w: netlink message of length %d in %d bytes", ErrTruncated, l, len(b))
			}
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if l >= unix.NLMSG_HDRLEN+4 {
					if e := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])); e != 0 {
						return fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return nil
			case sockDiagByFamily:
				if err := ParseDiag(b[unix.NLMSG_HDRLEN:l], &c.s); err != nil {
					return err
				}
				if (f.SrcPort == 0 || c.s.Src.Port() == f.SrcPort) && (f.DstPort == 0 || c.s.Dst.Port() == f.DstPort) {
					fn(&c.s)
				}
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}

// WalkDiagDump walks the netlink messages in b (one receive of a dump),
// calling fn with each SOCK_DIAG_BY_FAMILY payload. It reports done at
// NLMSG_DONE and returns the kernel's error for NLMSG_ERROR.
func WalkDiagDump(b []byte, fn func([]byte) error) (bool, error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		typ := ne.Uint16(b[4:])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("%w: netlink message of length %d in %d bytes", ErrTruncated, l, len(b))
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if l >= unix.NLMSG_HDRLEN+4 {
				if e := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])); e != 0 {
					return true, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
				}
			}
			return true, nil
		case sockDiagByFamily:
			if err := fn(b[unix.NLMSG_HDRLEN:l]); err != nil {
				return false, err
			}
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return false, nil
}
