package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/internal/hist"
	"github.com/tcplab/tcplab/tcpinfo"
)

// Outputs are where a peer writes: samples.jsonl, events.jsonl, and a "ready"
// line once it listens (or has connected).
type Outputs struct {
	Samples io.Writer
	Events  io.Writer
	Ready   io.Writer
}

// Run runs one peer until its deadline or until ctx ends. It returns an error
// only for a failure that makes the run's data meaningless (could not listen
// or connect, corrupt stream); ordinary disconnects are events.
func Run(ctx context.Context, cfg Config, out Outputs) error {
	log := &eventLog{w: out.Events, side: cfg.Role, start: cfg.Start}
	deadline := time.Now().Add(time.Duration(cfg.Deadline() - tcpinfo.Monotonic()))
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	conn, handshake, err := establish(ctx, cfg, log, out.Ready)
	if err != nil {
		log.emit(Event{Kind: EventError, Error: err.Error()})
		return err
	}
	eff, fd, err := applyPost(conn, cfg.Socket)
	if err != nil {
		conn.Close()
		log.emit(Event{Kind: EventError, Error: err.Error()})
		return err
	}
	connectedAt := tcpinfo.Monotonic() - cfg.Start
	log.emit(Event{T: connectedAt, Kind: EventConnected, Addr: conn.LocalAddr().String() + "->" + conn.RemoteAddr().String(), Handshake: int64(handshake)})
	log.emit(Event{Kind: EventSocket, Socket: &eff})

	// Unblock reads and writes when the run ends (deadline or cancel).
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	sampler := &tcpinfo.Sampler{FD: fd, Side: cfg.Role, Start: cfg.Start, Interval: cfg.SampleInterval, W: out.Samples}
	sctx, scancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var serr error
	if !cfg.NoSample {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serr = sampler.Run(sctx)
		}()
	}

	var st Stats
	var werr error
	if cfg.Role == RoleSender && len(cfg.Schedule) > 0 {
		werr = sendSchedule(ctx, cfg, conn, fd, &st, log)
	} else if cfg.Role == RoleSender {
		werr = send(ctx, cfg, conn, &st)
	} else {
		werr = receive(ctx, cfg, conn, &st)
	}
	scancel()
	wg.Wait()
	st.Samples = sampler.Count
	ended := ctx.Err() != nil
	closeErr := conn.Close()
	tClosed := tcpinfo.Monotonic() - cfg.Start
	st.ConnectedNs, st.ClosedNs = connectedAt, tClosed
	ev := Event{Kind: EventClosed}
	switch {
	case errors.Is(werr, errPolicyReset):
		ev.Error = werr.Error()
	case werr != nil && !ended:
		ev.Error = describe(werr)
	case closeErr != nil:
		ev.Error = describe(closeErr)
	}
	ev.T = tClosed
	log.emit(ev)
	log.emit(Event{Kind: EventStats, Stats: &st})
	if !ended {
		// The connection ended before the run: stay until the run's end,
		// so a disconnect does not end the run (the other side notices it
		// in its own time).
		<-ctx.Done()
	}
	if serr != nil && !ended {
		log.emit(Event{Kind: EventError, Error: "sampler: " + serr.Error()})
	}
	var corrupt *corruptError
	if errors.As(werr, &corrupt) {
		return werr
	}
	return nil
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

func establish(ctx context.Context, cfg Config, log *eventLog, ready io.Writer) (*net.TCPConn, time.Duration, error) {
	if cfg.Listen {
		lc := net.ListenConfig{Control: control(cfg.Socket), KeepAlive: -1}
		ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
		if err != nil {
			return nil, 0, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
		defer ln.Close()
		log.emit(Event{Kind: EventListening, Addr: ln.Addr().String()})
		if ready != nil {
			fmt.Fprintln(ready, "ready")
		}
		stop := context.AfterFunc(ctx, func() { ln.Close() })
		defer stop()
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, fmt.Errorf("no connection on %s before the run ended", cfg.Addr)
			}
			return nil, 0, fmt.Errorf("accept on %s: %w", cfg.Addr, err)
		}
		return c.(*net.TCPConn), 0, nil
	}
	d := net.Dialer{Control: control(cfg.Socket), KeepAlive: -1}
	for {
		t0 := time.Now()
		c, err := d.DialContext(ctx, "tcp", cfg.Addr)
		if err == nil {
			if ready != nil {
				fmt.Fprintln(ready, "ready")
			}
			return c.(*net.TCPConn), time.Since(t0), nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
			return nil, 0, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
		}
		// The listener is not up yet: retry shortly, bounded by the run.
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// errPolicyReset ends a sender that reset its client by policy.
var errPolicyReset = errors.New("reset by policy: SO_LINGER 0, close sent an RST")

// writeSlice bounds one write of a scheduled sender, so production and the
// reset policy go on while the socket is full.
const writeSlice = 10 * time.Millisecond

type corruptError struct{ err error }

func (c *corruptError) Error() string { return c.err.Error() }
func (c *corruptError) Unwrap() error { return c.err }

// sendChunk is how many bytes of messages the bulk sender hands to write().
const sendChunk = 64 << 10

func send(ctx context.Context, cfg Config, c *net.TCPConn, st *Stats) error {
	size := cfg.MessageSize
	buf := make([]byte, 0, sendChunk+size)
	var seq uint64
	fill := func(n int) []byte {
		buf = buf[:0]
		now := tcpinfo.Monotonic() - cfg.Start
		for k := 0; k < n; k++ {
			off := len(buf)
			buf = buf[:off+size]
			PutHeader(buf[off:], uint32(size), seq, now)
			seq++
		}
		return buf
	}
	if cfg.RateBits == 0 {
		per := sendChunk / size
		if per < 1 {
			per = 1
		}
		for ctx.Err() == nil {
			b := fill(per)
			n, err := c.Write(b)
			st.Bytes += uint64(n)
			st.Messages += uint64(n / size)
			st.sawData(n, cfg.Start)
			if err != nil {
				return err
			}
		}
		return nil
	}
	// Paced: every tick, send the whole messages that are due at the rate.
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		due := uint64(time.Since(start).Seconds() * float64(cfg.RateBits) / 8)
		if due <= st.Bytes {
			continue
		}
		n := int((due - st.Bytes) / uint64(size))
		for n > 0 && ctx.Err() == nil {
			k := n
			if k*size > sendChunk {
				k = sendChunk / size
				if k < 1 {
					k = 1
				}
			}
			w, err := c.Write(fill(k))
			st.Bytes += uint64(w)
			st.Messages += uint64(w / size)
			st.sawData(w, cfg.Start)
			if err != nil {
				return err
			}
			n -= k
		}
	}
}

func receive(ctx context.Context, cfg Config, c *net.TCPConn, st *Stats) error {
	buf := make([]byte, cfg.ReadSize)
	var d Deframer
	var h hist.Histogram
	var next uint64
	seen := false
	onMsg := func(m Message) {
		st.Messages++
		now := tcpinfo.Monotonic() - cfg.Start
		if lag := now - m.Sent; lag > 0 {
			h.Add(uint64(lag / 1000))
		} else {
			h.Add(0)
		}
		switch {
		case !seen || m.Seq == next:
		case m.Seq > next:
			st.Lost += m.Seq - next
		default:
			st.Duplicated++
			return
		}
		seen = true
		next = m.Seq + 1
	}
	defer func() {
		st.LagP50Ms = float64(h.Quantile(0.5)) / 1000
		st.LagP99Ms = float64(h.Quantile(0.99)) / 1000
		st.LagMaxMs = float64(h.Max()) / 1000
	}()
	start := time.Now()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for {
		if cfg.VanishAt > 0 && time.Duration(tcpinfo.Monotonic()-cfg.Start) >= cfg.VanishAt {
			// Vanished: no more reads, no close until the run ends.
			<-ctx.Done()
			return nil
		}
		// A stall window: the application does not read.
		for _, sw := range cfg.Stalls {
			t := time.Duration(tcpinfo.Monotonic() - cfg.Start)
			if t >= sw.At && t < sw.At+sw.For {
				pause.Reset(sw.At + sw.For - t)
				select {
				case <-ctx.Done():
					return nil
				case <-pause.C:
				}
				start = time.Now().Add(-time.Duration(float64(st.Bytes) / max(float64(cfg.ReadRate), 1) * float64(time.Second)))
			}
		}
		n, err := c.Read(buf)
		if n > 0 {
			st.Bytes += uint64(n)
			st.sawData(n, cfg.Start)
			if ferr := d.Feed(buf[:n], onMsg); ferr != nil {
				return &corruptError{ferr}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if cfg.ReadRate > 0 {
			due := start.Add(time.Duration(float64(st.Bytes) / float64(cfg.ReadRate) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				pause.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-pause.C:
				}
			}
		}
	}
}
