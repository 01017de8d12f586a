package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/tcpinfo"
)

// Outputs are where a peer writes: samples.jsonl, events.jsonl, and a "ready"
// line once it listens (or has connected).
type Outputs struct {
	Samples io.Writer
	Events  io.Writer
	Ready   io.Writer
	// Begin delivers the run's start when the config has none: the peer
	// gets ready (listens), says so on Ready, and waits for it.
	Begin <-chan int64
}

// Run runs one peer until its deadline or until ctx ends. It returns an error
// only for a failure that makes the run's data meaningless (could not listen
// or connect, corrupt stream); ordinary disconnects are events.
func Run(ctx context.Context, cfg Config, out Outputs) error {
	log := &eventLog{w: out.Events, side: cfg.Role, start: cfg.Start}
	switch {
	case cfg.HTTPClient != nil:
		return runHTTPClient(ctx, &cfg, out, log)
	case cfg.HTTPServer != nil:
		return runHTTPServer(ctx, &cfg, out, log)
	case cfg.Role == RoleSender:
		return runSender(ctx, &cfg, out, log)
	}
	return runReceiver(ctx, &cfg, out, log)
}

// listenAndBegin listens when this peer is the listening side — before the
// run starts, so that the other side's first SYN finds it — and then waits
// for the run's start (begin). It returns the listener (nil when this peer
// connects) and ctx bounded by the run's deadline.
func listenAndBegin(ctx context.Context, cfg *Config, out Outputs, log *eventLog) (*net.TCPListener, context.Context, context.CancelFunc, error) {
	var ln *net.TCPListener
	if cfg.Listen {
		var err error
		if ln, err = listenTCP(ctx, cfg); err != nil {
			log.emit(Event{Kind: EventError, Error: err.Error()})
			return nil, ctx, func() {}, err
		}
	}
	rctx, cancel, err := begin(ctx, cfg, out, log)
	if err != nil && ln != nil {
		ln.Close()
	}
	return ln, rctx, cancel, err
}

// listenTCP listens on cfg.Addr with the peer's socket options.
func listenTCP(ctx context.Context, cfg *Config) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: control(cfg.Socket), KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return ln.(*net.TCPListener), nil
}

// begin says ready, waits, if the run's start is not known yet, until the
// parent says it, and returns ctx bounded by the run's deadline.
// Listening happens before: the other side's first SYN must find us.
func begin(ctx context.Context, cfg *Config, out Outputs, log *eventLog) (context.Context, context.CancelFunc, error) {
	if out.Ready != nil {
		// Also when the start is known (a run with a user's program): the
		// parent waits for a listening built-in peer either way.
		fmt.Fprintln(out.Ready, "ready")
	}
	if cfg.Start == 0 {
		select {
		case t := <-out.Begin:
			cfg.Start = t
			log.setStart(t)
		case <-ctx.Done():
			return ctx, func() {}, fmt.Errorf("stopped before the run started")
		}
	}
	deadline := time.Now().Add(time.Duration(cfg.Deadline() - tcpinfo.Monotonic()))
	c, cancel := context.WithDeadline(ctx, deadline)
	return c, cancel, nil
}

// describe names an error the way a user reads disconnects: EOF, ECONNRESET…
func describe(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.As(err, &errno):
		return fmt.Sprintf("%s (%v)", errnoName(errno), errno)
	}
	return err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.EPIPE:
		return "EPIPE"
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	}
	return fmt.Sprintf("errno %d", int(e))
}

// errPolicyReset ends a sender that reset its client by policy.
var errPolicyReset = errors.New("reset by policy: SO_LINGER 0, close sent an RST")

// writeSlice bounds one write of a scheduled sender, so production and the
// reset policy go on while the socket is full.
const writeSlice = 10 * time.Millisecond

type corruptError struct{ err error }

func (c *corruptError) Error() string { return c.err.Error() }
func (c *corruptError) Unwrap() error { return c.err }

// sendChunk is how many bytes of messages a sender hands to write() at once.
const sendChunk = 64 << 10
