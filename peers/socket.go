package peers

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// control returns a net.Dialer / net.ListenConfig Control hook that sets the
// options that must be in place before the handshake (buffers, because the
// window scale is negotiated in the SYN; congestion control).
func control(o SocketOptions) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = applyPre(int(fd), o)
		})
		return errors.Join(err, serr)
	}
}

func applyPre(fd int, o SocketOptions) error {
	// As root, the FORCE variants let a scenario ask for more than
	// net.core.wmem_max / rmem_max (208 KiB by default), which high
	// bandwidth-delay paths need; otherwise the plain options apply.
	if o.Sndbuf > 0 {
		if err := setBuf(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, o.Sndbuf); err != nil {
			return fmt.Errorf("set SO_SNDBUF %d: %w", o.Sndbuf, err)
		}
	}
	if o.Rcvbuf > 0 {
		if err := setBuf(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, o.Rcvbuf); err != nil {
			return fmt.Errorf("set SO_RCVBUF %d: %w", o.Rcvbuf, err)
		}
	}
	if o.Congestion != "" {
		if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, o.Congestion); err != nil {
			return fmt.Errorf("set TCP_CONGESTION %q (see /proc/sys/net/ipv4/tcp_available_congestion_control): %w", o.Congestion, err)
		}
	}
	return nil
}

// applyPost sets TCP_NODELAY on a connected socket and reads every option back.
func applyPost(c *net.TCPConn, o SocketOptions) (EffectiveSocket, int, error) {
	var eff EffectiveSocket
	var fd int
	if o.NoDelay != nil {
		if err := c.SetNoDelay(*o.NoDelay); err != nil {
			return eff, 0, fmt.Errorf("set TCP_NODELAY: %w", err)
		}
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return eff, 0, err
	}
	var gerr error
	err = rc.Control(func(f uintptr) {
		fd = int(f)
		var e1, e2, e3, e4, e5 error
		eff.Sndbuf, e1 = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		eff.Rcvbuf, e2 = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		var nd int
		nd, e3 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		eff.NoDelay = nd != 0
		var cc string
		cc, e4 = unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		eff.Congestion = strings.TrimRight(cc, "\x00")
		eff.MSS, e5 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG)
		gerr = errors.Join(e1, e2, e3, e4, e5)
	})
	if err := errors.Join(err, gerr); err != nil {
		return eff, 0, fmt.Errorf("read back socket options: %w", err)
	}
	return eff, fd, nil
}

func setBuf(fd, force, plain, v int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, v); err == nil {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, v)
}
