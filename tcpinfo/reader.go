package tcpinfo

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bufLen is larger than any struct tcp_info we know, so a newer kernel's
// longer struct shows up in the returned length instead of being cut to ours.
const bufLen = 512

// Reader reads tcp_info and the queue and memory figures of one socket. It
// owns its buffers, so reading allocates nothing. A Reader is not safe for
// concurrent use.
type Reader struct {
	buf [bufLen]byte
	mem [MemInfoCount]uint32
}

// ReadInfo reads getsockopt(fd, IPPROTO_TCP, TCP_INFO) into info, keeping the
// returned length so absent fields stay absent.
func (r *Reader) ReadInfo(fd int, info *Info) error {
	n := uint32(bufLen)
	if err := getsockoptRaw(fd, r.buf[:], &n); err != nil {
		return err
	}
	if n > bufLen {
		n = bufLen
	}
	return info.Decode(r.buf[:n])
}

func getsockoptRaw(fd int, buf []byte, n *uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(n)), 0)
	if e != 0 {
		return fmt.Errorf("getsockopt TCP_INFO on fd %d: %w", fd, e)
	}
	return nil
}

// MemInfoCount is the number of u32 values SO_MEMINFO returns (SK_MEMINFO_VARS).
const MemInfoCount = 9

// MemInfo is getsockopt(SO_MEMINFO): the socket's memory against its buffers.
type MemInfo struct {
	RmemAlloc  uint32 `json:"rmem_alloc"`
	Rcvbuf     uint32 `json:"rcvbuf"`
	WmemAlloc  uint32 `json:"wmem_alloc"`
	Sndbuf     uint32 `json:"sndbuf"`
	FwdAlloc   uint32 `json:"fwd_alloc"`
	WmemQueued uint32 `json:"wmem_queued"`
	Optmem     uint32 `json:"optmem"`
	Backlog    uint32 `json:"backlog"`
	Drops      uint32 `json:"drops"`
}

// Queues are the byte counts the socket ioctls report.
type Queues struct {
	// Unread is SIOCINQ: bytes received but not yet read by the application.
	Unread uint32 `json:"unread"`
	// Unacked is SIOCOUTQ minus SIOCOUTQNSD: bytes sent but not yet acknowledged.
	Unacked uint32 `json:"unacked_bytes"`
	// Unsent is SIOCOUTQNSD: bytes written by the application, not yet sent.
	Unsent uint32 `json:"unsent"`
}

// ReadMem reads SO_MEMINFO.
func (r *Reader) ReadMem(fd int, m *MemInfo) error {
	n := uint32(MemInfoCount * 4)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&r.mem[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return fmt.Errorf("getsockopt SO_MEMINFO on fd %d: %w", fd, e)
	}
	*m = MemInfo{r.mem[0], r.mem[1], r.mem[2], r.mem[3], r.mem[4], r.mem[5], r.mem[6], r.mem[7], r.mem[8]}
	return nil
}

// ReadQueues reads SIOCINQ, SIOCOUTQ and SIOCOUTQNSD.
func (r *Reader) ReadQueues(fd int, q *Queues) error {
	var inq, outq, nsd int32
	if err := ioctlInt(fd, unix.SIOCINQ, &inq); err != nil {
		return fmt.Errorf("ioctl SIOCINQ on fd %d: %w", fd, err)
	}
	if err := ioctlInt(fd, unix.SIOCOUTQ, &outq); err != nil {
		return fmt.Errorf("ioctl SIOCOUTQ on fd %d: %w", fd, err)
	}
	if err := ioctlInt(fd, unix.SIOCOUTQNSD, &nsd); err != nil {
		return fmt.Errorf("ioctl SIOCOUTQNSD on fd %d: %w", fd, err)
	}
	q.Unread, q.Unsent = uint32(inq), uint32(nsd)
	q.Unacked = 0
	if outq > nsd {
		q.Unacked = uint32(outq - nsd)
	}
	return nil
}

func ioctlInt(fd int, req uint, v *int32) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(v)))
	if e != 0 {
		return e
	}
	return nil
}
