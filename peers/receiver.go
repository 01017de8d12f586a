package peers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcplab/tcplab/internal/hist"
	"github.com/tcplab/tcplab/tcpinfo"
)

// receiver is the receiving peer: Clients clients, each one connection at a
// time, reconnecting when asked to.
type receiver struct {
	cfg     *Config
	log     *eventLog
	samples *sampleSet
	nextID  atomic.Int64 // ids of reconnections (first connections are 0..Clients-1)
	mu      sync.Mutex
	total   Stats
	lag     hist.Histogram
	fatal   error
	series  lagSeries
}

// lagSeries is the lag of every client's messages per second of the run,
// written as one "lag" event per second that saw messages.
type lagSeries struct {
	mu  sync.Mutex
	sec int64 // the second being collected
	h   hist.Histogram
	log *eventLog
}

// add counts lags (µs) read at now (ns since the start).
func (l *lagSeries) add(now int64, lags []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now / 1e9; s != l.sec {
		l.flushLocked()
		l.sec = s
	}
	for _, v := range lags {
		l.h.Add(v)
	}
}

func (l *lagSeries) flushLocked() {
	if l.h.Count() == 0 {
		return
	}
	l.log.emit(Event{T: l.sec * 1e9, Kind: EventLag, Conn: -1, Lag: &LagPoint{Second: l.sec,
		Messages: l.h.Count(), P50Ms: float64(l.h.Quantile(0.5)) / 1000, P99Ms: float64(l.h.Quantile(0.99)) / 1000, MaxMs: float64(l.h.Max()) / 1000}})
	l.h.Reset()
}

// clientState is what a client remembers across its connections.
type clientState struct {
	index    int
	seen     bool
	next     uint64 // next sequence number expected
	readRate uint64
	// readSchedule, when set, gives the read rate over time instead.
	readSchedule []ReadPhase
	stalls       []Stall
	closeAt      time.Duration
	// closeThis is when the current connection closes itself (close_at,
	// or close_every after it opened; 0: it does not).
	closeThis time.Duration
	rng       *rand.Rand
}

func runReceiver(ctx context.Context, cfg *Config, out Outputs, log *eventLog) error {
	r := &receiver{cfg: cfg, log: log}
	r.series.log = log
	n := max(cfg.Clients, 1)
	r.nextID.Store(int64(n))
	ln, ctx, cancel, err := listenAndBegin(ctx, cfg, out, log)
	defer cancel()
	if err != nil {
		return err
	}
	r.samples = newSampleSet(cfg, out.Samples)
	stopSampling := r.samples.launch(ctx, cfg.NoSample)
	if cfg.Listen {
		err = r.acceptOne(ctx, ln)
	} else {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			cl := r.newClient(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runClient(ctx, cl)
			}()
		}
		wg.Wait()
	}
	stopSampling()
	r.samples.account(&r.total)
	r.series.mu.Lock()
	r.series.flushLocked()
	r.series.mu.Unlock()
	r.total.LagP50Ms = float64(r.lag.Quantile(0.5)) / 1000
	r.total.LagP99Ms = float64(r.lag.Quantile(0.99)) / 1000
	r.total.LagMaxMs = float64(r.lag.Max()) / 1000
	addCost(&r.total)
	log.emit(Event{Kind: EventTotal, Conn: -1, Stats: &r.total})
	if err != nil {
		log.emit(Event{Kind: EventError, Error: err.Error()})
		return err
	}
	if r.samples.err != nil {
		log.emit(Event{Kind: EventError, Error: "samples: " + r.samples.err.Error()})
	}
	return r.fatal
}

func (r *receiver) newClient(i int) *clientState {
	cl := &clientState{index: i, readRate: r.cfg.ReadRate, readSchedule: r.cfg.ReadSchedule, stalls: r.cfg.Stalls, closeAt: r.cfg.CloseAt,
		rng: rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(i)))}
	for _, o := range r.cfg.Overrides {
		for _, c := range o.Clients {
			if c != i {
				continue
			}
			if o.ReadRate != nil {
				cl.readRate, cl.readSchedule = *o.ReadRate, nil
			}
			if o.Stalls != nil {
				cl.stalls = o.Stalls
			}
			if o.CloseAt != nil {
				cl.closeAt = *o.CloseAt
			}
		}
	}
	return cl
}

// acceptOne serves a sender that connects: one connection.
func (r *receiver) acceptOne(ctx context.Context, ln *net.TCPListener) error {
	defer ln.Close()
	r.log.emit(Event{Kind: EventListening, Addr: ln.Addr().String()})
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	c, err := ln.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no connection on %s before the run ended", r.cfg.Addr)
		}
		return fmt.Errorf("accept on %s: %w", r.cfg.Addr, err)
	}
	r.serveConn(ctx, c.(*net.TCPConn), 0, r.newClient(0), 0)
	<-ctx.Done() // a disconnect does not end the run
	return nil
}

// runClient connects, reads until the connection or the run ends, and
// reconnects with backoff while the run lasts if the scenario asks.
func (r *receiver) runClient(ctx context.Context, cl *clientState) {
	cfg := r.cfg
	rc := cfg.Reconnect
	failures := 0
	first := true
	for ctx.Err() == nil {
		var c *net.TCPConn
		var hs time.Duration
		var err error
		if first {
			// The first connection retries while the listener is not up.
			r.log.emit(Event{Kind: EventConnecting, Client: cl.index, Addr: cfg.Addr})
			c, hs, err = dial(ctx, cfg)
		} else {
			c, hs, err = dialTimed(ctx, net.Dialer{KeepAlive: -1, Timeout: rc.Timeout}, cfg.Socket, cfg.Addr)
		}
		if err != nil {
			if ctx.Err() != nil && !first {
				return
			}
			if first || rc == nil {
				if ctx.Err() != nil {
					err = fmt.Errorf("never connected before the run ended: %w", err)
				}
				r.log.emit(Event{Kind: EventError, Client: cl.index, Error: err.Error()})
				r.mu.Lock()
				r.fatal = errors.Join(r.fatal, err)
				r.mu.Unlock()
				return
			}
			failures++
			r.log.emit(Event{Kind: EventConnectFailed, Client: cl.index, Error: describe(err)})
			if !r.backoff(ctx, cl, failures) {
				return
			}
			continue
		}
		id := cl.index
		if !first {
			id = int(r.nextID.Add(1) - 1)
		}
		first, failures = false, 0
		r.serveConn(ctx, c, id, cl, hs)
		if rc == nil || ctx.Err() != nil {
			break
		}
		if !r.backoff(ctx, cl, 0) {
			return
		}
	}
	// Without reconnect, stay until the run ends (a disconnect does not
	// end the run).
	<-ctx.Done()
}

// backoff waits before attempt failures+1: Min·2^failures up to Max, varied
// by ±Jitter.
func (r *receiver) backoff(ctx context.Context, cl *clientState, failures int) bool {
	rc := r.cfg.Reconnect
	d := rc.Min
	for i := 0; i < failures && d < rc.Max; i++ {
		d *= 2
	}
	d = min(d, rc.Max)
	if rc.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + rc.Jitter*(2*cl.rng.Float64()-1)))
	}
	return sleepUntil(ctx, tcpinfo.Monotonic()+int64(d))
}

// serveConn reads one connection until it ends, the client closes it, or
// the run ends, and records it.
func (r *receiver) serveConn(ctx context.Context, c *net.TCPConn, id int, cl *clientState, handshake time.Duration) {
	cfg := r.cfg
	if cfg.Hello {
		var b [helloSize]byte
		hello{Conn: id, Client: cl.index, Resume: cl.seen && cfg.Reconnect != nil && cfg.Reconnect.Resume, From: cl.next}.put(b[:])
		if _, err := c.Write(b[:]); err != nil {
			r.log.emit(Event{Kind: EventError, Conn: id, Client: cl.index, Error: "send hello: " + err.Error()})
		}
	}
	connectedAt := tcpinfo.Monotonic() - cfg.Start
	eff, fd, err := applyPost(c, cfg.Socket)
	if err != nil {
		r.log.emit(Event{Kind: EventError, Conn: id, Client: cl.index, Error: err.Error()})
		c.Close()
		return
	}
	r.log.emit(Event{T: connectedAt, Kind: EventConnected, Conn: id, Client: cl.index, Addr: c.LocalAddr().String() + "->" + c.RemoteAddr().String(), Handshake: int64(handshake)})
	r.log.emit(Event{Kind: EventSocket, Conn: id, Client: cl.index, Socket: &eff})
	if !cfg.NoSample {
		r.samples.add(id, fd)
	}
	cl.closeThis = 0
	switch {
	case cl.closeAt > 0 && time.Duration(connectedAt) < cl.closeAt:
		cl.closeThis = cl.closeAt
	case cfg.CloseEvery > 0:
		cl.closeThis = time.Duration(connectedAt) + cfg.CloseEvery
	}
	if cl.closeThis > 0 {
		// The client closes this connection itself then: a read deadline.
		c.SetReadDeadline(time.Now().Add(cl.closeThis - time.Duration(connectedAt)))
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	st := Stats{Conn: id, Client: cl.index, ConnectedNs: connectedAt}
	var lag hist.Histogram
	rerr := receive(ctx, cfg, c, cl, &st, &lag, &r.series)
	noticed := tcpinfo.Monotonic() - cfg.Start // before our close: who closed first compares these
	stop()
	ended := ctx.Err() != nil
	if !cfg.NoSample {
		st.Samples = r.samples.remove(id)
	}
	if errors.Is(rerr, errVanished) {
		// Vanished: no close until the run ends (the link is dark).
		<-ctx.Done()
		ended = true
		rerr = nil
	}
	closeErr := c.Close()
	st.ClosedNs = tcpinfo.Monotonic() - cfg.Start
	st.LagP50Ms = float64(lag.Quantile(0.5)) / 1000
	st.LagP99Ms = float64(lag.Quantile(0.99)) / 1000
	st.LagMaxMs = float64(lag.Max()) / 1000
	ev := Event{T: noticed, Kind: EventClosed, Conn: id, Client: cl.index}
	if ended {
		ev.T = st.ClosedNs
	}
	switch {
	case errors.Is(rerr, errClientClose):
		ev.Error = rerr.Error()
	case rerr != nil && !ended:
		ev.Error = describe(rerr)
	case closeErr != nil:
		ev.Error = describe(closeErr)
	}
	r.log.emit(ev)
	r.log.emit(Event{Kind: EventStats, Conn: id, Client: cl.index, Stats: &st})
	var corrupt *corruptError
	r.mu.Lock()
	r.total.Add(&st)
	r.lag.Merge(&lag)
	if errors.As(rerr, &corrupt) {
		r.fatal = errors.Join(r.fatal, rerr)
	}
	r.mu.Unlock()
}

// readSlack is the most credit a rate-paced reader keeps from idle time.
const readSlack = 20 * time.Millisecond

var (
	errVanished    = errors.New("vanished")
	errClientClose = errors.New("closed by the receiver (close_at, close_every)")
)

// receive reads one connection at the client's read pattern, counting
// messages, gaps and duplicates against what the client saw before.
func receive(ctx context.Context, cfg *Config, c *net.TCPConn, cl *clientState, st *Stats, h *hist.Histogram, series *lagSeries) error {
	buf := make([]byte, cfg.ReadSize)
	var d Deframer
	var now int64
	lags := make([]uint64, 0, 1024) // this read's lags, for the per-second series
	onMsg := func(m Message) {
		st.Messages++
		var us uint64
		if lag := now - m.Sent; lag > 0 {
			us = uint64(lag / 1000)
		}
		h.Add(us)
		lags = append(lags, us)
		if st.Messages == 1 {
			st.FirstSeq = m.Seq
		}
		st.LastSeq = max(st.LastSeq, m.Seq)
		st.MaxMessage = max(st.MaxMessage, m.Size)
		switch {
		case !cl.seen || m.Seq == cl.next:
		case m.Seq > cl.next:
			st.Lost += m.Seq - cl.next
		default:
			st.Duplicated++
			return
		}
		cl.seen = true
		cl.next = m.Seq + 1
	}
	// The read rate is paced by next, the time the next read may start.
	// Time spent waiting for data earns no credit beyond readSlack, so a
	// reader that sat idle (a paused feed) does not then read a burst
	// far above its rate.
	next := time.Now()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	wait := func(d time.Duration) bool {
		pause.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-pause.C:
			return true
		}
	}
	for {
		t := time.Duration(tcpinfo.Monotonic() - cfg.Start)
		if cfg.VanishAt > 0 && t >= cfg.VanishAt {
			return errVanished
		}
		if cl.closeThis > 0 && t >= cl.closeThis {
			return errClientClose
		}
		// A stall window: the application does not read.
		for _, sw := range cl.stalls {
			if t >= sw.At && t < sw.At+sw.For {
				if !wait(sw.At + sw.For - t) {
					return nil
				}
				next = time.Now()
			}
		}
		n, err := c.Read(buf)
		if n > 0 {
			st.Bytes += uint64(n)
			sawData(st, n, cfg.Start)
			now = tcpinfo.Monotonic() - cfg.Start
			lags = lags[:0]
			ferr := d.Feed(buf[:n], onMsg)
			if len(lags) > 0 {
				series.add(now, lags)
			}
			if ferr != nil {
				return &corruptError{ferr}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if cl.closeThis > 0 && time.Duration(tcpinfo.Monotonic()-cfg.Start) >= cl.closeThis {
				return errClientClose
			}
			return err
		}
		rate, since, phaseEnd := cl.readRate, time.Duration(0), time.Duration(0)
		if cl.readSchedule != nil {
			since = time.Duration(tcpinfo.Monotonic() - cfg.Start)
			rate, phaseEnd = readPhaseAt(cl.readSchedule, since)
		}
		if rate > 0 && n > 0 {
			if floor := time.Now().Add(-readSlack); next.Before(floor) {
				next = floor
			}
			next = next.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
			w := time.Until(next)
			// A slow phase's pause ends with the phase: the next one reads
			// at its own rate from its start.
			if phaseEnd > 0 && w > phaseEnd-since {
				w = phaseEnd - since
				next = time.Now().Add(w)
			}
			if w > 0 && !wait(w) {
				return nil
			}
		}
	}
}
