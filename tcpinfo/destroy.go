package tcpinfo

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// sknlgrpInetTCPDestroy is SKNLGRP_INET_TCP_DESTROY: the sock_diag group
// the kernel tells of each IPv4 TCP socket it destroys.
const sknlgrpInetTCPDestroy = 1

// DestroyWatch hears from the kernel of each TCP socket of one network
// namespace as it is destroyed, with its last tcp_info (what `ss -E`
// shows): a connection too short for the periodic dump still gets a
// sample at its end.
type DestroyWatch struct {
	fd  int
	buf []byte
	s   DiagSocket
	// Lost counts the times the kernel could not queue a notice (the
	// socket's buffer was full): some sockets then had no final sample.
	Lost int
}

// OpenDestroyWatch subscribes, in the calling thread's namespace.
func OpenDestroyWatch() (*DestroyWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open NETLINK_SOCK_DIAG socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (sknlgrpInetTCPDestroy - 1)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe to destroyed TCP sockets: %w", err)
	}
	return &DestroyWatch{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// Drain calls fn for each socket destroyed since the last call, with a
// DiagSocket reused for the next; it does not wait. A listener is among
// them (its state is then TCP_CLOSE too; its remote port is 0).
func (w *DestroyWatch) Drain(fn func(*DiagSocket)) error {
	for {
		n, err := unix.Read(w.fd, w.buf)
		switch {
		case err == unix.EAGAIN:
			return nil
		case err == unix.ENOBUFS:
			w.Lost++
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("destroyed sockets: %w", err)
		}
		if _, err := WalkDiagDump(w.buf[:n], func(b []byte) error {
			if err := ParseDiag(b, &w.s); err != nil {
				return err
			}
			fn(&w.s)
			return nil
		}); err != nil && !errors.Is(err, ErrTruncated) {
			return err
		}
	}
}

// Close closes the subscription.
func (w *DestroyWatch) Close() error { return unix.Close(w.fd) }
