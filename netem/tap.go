package netem

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tcplab/tcplab/netem/userspace"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tapSnaplen is what a tap reads of each packet: IPv4 and TCP headers with
// their options. The lengths come from the IP header.
const tapSnaplen = 128

// tap watches the packets crossing one veth end through a packet socket
// (headers only) and tells an observer, as the userspace link tells it of
// the packets it reads: the kernel backend's view of the wire.
type tap struct {
	fd, stop   int
	fromSender bool // outgoing packets are the sender side's
	done       chan struct{}
	lastDrops  atomic.Uint64
	stopped    sync.Once
	closeErr   error
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// startTap opens a packet socket on ifname inside ns and tells o of every
// IPv4 packet crossing it until stop; fromSender: ns is the sender's (its
// outgoing packets come from the sender's side).
func startTap(ns netns.NsHandle, ifname string, fromSender bool, o userspace.Observer) (*tap, error) {
	t := &tap{fd: -1, fromSender: fromSender, done: make(chan struct{})}
	err := Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// ETH_P_ALL: a socket bound to one protocol is not shown the
		// packets the host sends (dev_queue_xmit_nit taps ptype_all only).
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		t.fd = fd
		// Room for a burst at gigabit rates between two reads; what still
		// overflows is counted (Drops) and reported.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err == nil {
		t.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	}
	if err != nil {
		if t.fd >= 0 {
			unix.Close(t.fd)
		}
		return nil, fmt.Errorf("watch %s: %w", ifname, err)
	}
	go t.run(o)
	return t, nil
}

func (t *tap) run(o userspace.Observer) {
	defer close(t.done)
	var buf [tapSnaplen]byte
	var sa unix.RawSockaddrLinklayer
	fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}, {Fd: int32(t.stop), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return
		}
		for {
			salen := uint32(unsafe.Sizeof(sa))
			// recvfrom without the Sockaddr conversion of unix.Recvfrom:
			// nothing allocated per packet.
			n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(t.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
				unix.MSG_TRUNC, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
			if errno != 0 {
				break
			}
			if sa.Protocol != htons(unix.ETH_P_IP) {
				continue
			}
			now := monotonicNow()
			l := min(int(n), len(buf))
			outgoing := sa.Pkttype == unix.PACKET_OUTGOING
			o.Observe(buf[:l], outgoing == t.fromSender, now)
		}
		if fds[1].Revents != 0 {
			return
		}
	}
}

// Drops counts the packets the socket could not keep (its buffer full):
// connections the observer then followed may miss data or a close.
func (t *tap) Drops() uint64 {
	if t.fd < 0 {
		return t.lastDrops.Load()
	}
	if st, err := unix.GetsockoptTpacketStats(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		// Each read returns the drops since the last one.
		t.lastDrops.Add(uint64(st.Drops))
	}
	return t.lastDrops.Load()
}

// stopOnce stops the reader, after it has read what was queued, and
// closes the socket; the drops are counted first.
func (t *tap) stopOnce() {
	t.stopped.Do(func() {
		var one = [8]byte{1}
		_, err := unix.Write(t.stop, one[:])
		<-t.done
		t.Drops()
		t.closeErr = errors.Join(err, unix.Close(t.fd), unix.Close(t.stop))
		t.fd = -1
	})
}

func (t *tap) close() error {
	t.stopOnce()
	return t.closeErr
}

func monotonicNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
