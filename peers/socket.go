package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/tcpinfo"
	"golang.org/x/sys/unix"
)

// control returns a net.Dialer / net.ListenConfig Control hook that sets the
// options that must be in place before the handshake (buffers, because the
// window scale is negotiated in the SYN; congestion control).
func control(o SocketOptions) func(network, address string, c syscall.RawConn) error {
	return controlStamped(o, nil)
}

// controlStamped is control that also stamps *connecting with the
// monotonic clock as the socket is handed to connect(2) (nil: no stamp):
// a handshake timed from there leaves out the socket's creation and
// options, which the process's first connection pays most for.
func controlStamped(o SocketOptions, connecting *int64) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = applyPre(int(fd), o)
		})
		if connecting != nil {
			*connecting = tcpinfo.Monotonic()
		}
		return errors.Join(err, serr)
	}
}

// dialTimed connects with d (its Control replaced by the socket options'
// and a stamp) and returns the handshake's time from connect(2) on.
func dialTimed(ctx context.Context, d net.Dialer, o SocketOptions, addr string) (*net.TCPConn, time.Duration, error) {
	var connecting int64
	d.Control = controlStamped(o, &connecting)
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	return c.(*net.TCPConn), time.Duration(tcpinfo.Monotonic() - connecting), nil
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
	if o.UserTimeout > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(o.UserTimeout.Milliseconds())); err != nil {
			return fmt.Errorf("set TCP_USER_TIMEOUT %v: %w", o.UserTimeout, err)
		}
	}
	if o.NotsentLowat > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, o.NotsentLowat); err != nil {
			return fmt.Errorf("set TCP_NOTSENT_LOWAT %d: %w", o.NotsentLowat, err)
		}
	}
	if o.MaxPacingRate > 0 {
		// As a u64: a u32 caps at 4 GB/s (the kernel reads either size).
		if err := unix.SetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_MAX_PACING_RATE, o.MaxPacingRate); err != nil {
			return fmt.Errorf("set SO_MAX_PACING_RATE %d B/s: %w", o.MaxPacingRate, err)
		}
	}
	if o.Linger != nil {
		l := unix.Linger{Onoff: 1, Linger: int32(o.Linger.Seconds())}
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
			return fmt.Errorf("set SO_LINGER %v: %w", *o.Linger, err)
		}
	}
	return nil
}

// keepAliveConfig is the net package's form of the peer's keepalive
// (disabled when not asked, unlike Go's 15 s default).
func keepAliveConfig(o SocketOptions) net.KeepAliveConfig {
	if o.Keepalive == nil {
		return net.KeepAliveConfig{Enable: false}
	}
	return net.KeepAliveConfig{Enable: true, Idle: o.Keepalive.Idle, Interval: o.Keepalive.Interval, Count: o.Keepalive.Count}
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
	if err := c.SetKeepAliveConfig(keepAliveConfig(o)); err != nil {
		return eff, 0, fmt.Errorf("set keepalive: %w", err)
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
		var ka int
		var e6, e7, e8, e9, e10, e11, e12 error
		ka, e6 = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		eff.Keepalive = ka != 0
		eff.KeepaliveIdleS, e7 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		eff.KeepaliveInterval, e8 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		eff.KeepaliveCount, e9 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		eff.UserTimeoutMs, e10 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		eff.NotsentLowat, e11 = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
		var l *unix.Linger
		l, e12 = unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
		if l != nil {
			eff.Linger, eff.LingerS = l.Onoff != 0, int(l.Linger)
		}
		pacing, e13 := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_MAX_PACING_RATE)
		if pacing != ^uint64(0) && pacing != uint64(^uint32(0)) {
			eff.MaxPacingRate = pacing // all ones: no cap
		}
		gerr = errors.Join(e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13)
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
