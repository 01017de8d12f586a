package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/tcpinfo"
	"golang.org/x/sys/unix"
)

// sender is the sending peer: one feed, any number of connections.
type sender struct {
	cfg     *Config
	log     *eventLog
	feed    *feed
	sizes   sizer
	samples *sampleSet
	total   Stats
	totalMu sync.Mutex
	accepts int // connections accepted (ids for clients without a hello)
	conns   sync.WaitGroup
}

func runSender(ctx context.Context, cfg *Config, out Outputs, log *eventLog) error {
	sz := newSizer(cfg)
	s := &sender{cfg: cfg, log: log, feed: newFeed(cfg.Resume, sz), sizes: sz}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = []Phase{{Kind: PhaseRate, Bits: cfg.RateBits}}
	}
	ln, ctx, cancel, err := listenAndBegin(ctx, cfg, out, log)
	defer cancel()
	if err != nil {
		return err
	}
	s.samples = newSampleSet(cfg, out.Samples)
	go s.feed.produce(ctx, cfg)
	stopSampling := s.samples.launch(ctx, cfg.NoSample)
	if cfg.Listen {
		err = s.serve(ctx, ln)
	} else {
		var c *net.TCPConn
		var hs time.Duration
		c, hs, err = dial(ctx, cfg)
		if err == nil {
			s.conns.Add(1)
			s.handle(ctx, c, hs)
			// Stay until the run ends: a disconnect does not end the run.
			<-ctx.Done()
		}
	}
	s.conns.Wait()
	stopSampling()
	s.samples.account(&s.total)
	addCost(&s.total)
	log.emit(Event{Kind: EventTotal, Conn: -1, Stats: &s.total})
	if err != nil {
		log.emit(Event{Kind: EventError, Error: err.Error()})
	}
	if s.samples.err != nil {
		log.emit(Event{Kind: EventError, Error: "samples: " + s.samples.err.Error()})
	}
	return err
}

// listener is the sender's listening socket, which a refusal may close and
// open again.
type listener struct {
	mu     sync.Mutex
	ln     *net.TCPListener
	reopen chan struct{} // closed when a closed listener is open again
	paused chan struct{} // non-nil while accepting is paused; closed at the end
	dummy  string        // local address of the connection that fills the queue
}

// serve accepts connections until the run ends, each served by its own
// goroutine, and applies the refusal windows.
func (s *sender) serve(ctx context.Context, ln *net.TCPListener) error {
	l := &listener{ln: ln}
	s.log.emit(Event{Kind: EventListening, Addr: ln.Addr().String()})
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		if l.ln != nil {
			l.ln.Close()
		}
		l.mu.Unlock()
	})
	defer stop()
	var refusals sync.WaitGroup
	for _, r := range s.cfg.Refuse {
		refusals.Add(1)
		go func() { defer refusals.Done(); s.refuse(ctx, l, r) }()
	}
	defer refusals.Wait()
	for {
		l.mu.Lock()
		cur, reopen, paused := l.ln, l.reopen, l.paused
		l.mu.Unlock()
		if paused != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-paused:
				continue
			}
		}
		if cur == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-reopen:
				continue
			}
		}
		c, err := cur.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			l.mu.Lock()
			byRefusal := l.ln != cur || l.paused != nil
			l.mu.Unlock()
			if byRefusal {
				continue
			}
			return fmt.Errorf("accept on %s: %w", s.cfg.Addr, err)
		}
		l.mu.Lock()
		dummy := l.dummy
		l.mu.Unlock()
		if dummy != "" && c.RemoteAddr().String() == dummy {
			c.Close() // the refusal's own queue filler
			continue
		}
		s.conns.Add(1)
		go s.handle(ctx, c, 0)
	}
}

// refuse makes the listener refuse new connections during one window:
// closed (SYNs answered with RST) or with a drop-all socket filter (SYNs
// vanish and the client retries them).
func (s *sender) refuse(ctx context.Context, l *listener, r Refusal) {
	if !sleepUntil(ctx, s.cfg.Start+int64(r.At)) {
		return
	}
	detail := fmt.Sprintf("refusing new connections for %v (%s)", r.For, r.Mode)
	var undo func() error
	switch r.Mode {
	case RefuseRST:
		l.mu.Lock()
		ln := l.ln
		l.ln, l.reopen = nil, make(chan struct{})
		l.mu.Unlock()
		err := ln.Close()
		undo = func() error {
			nl, err := listenTCP(ctx, s.cfg)
			l.mu.Lock()
			l.ln = nl
			close(l.reopen)
			l.mu.Unlock()
			return err
		}
		s.log.emit(Event{Kind: EventRefuse, Detail: detail, Error: errString(err)})
	case RefuseBlackhole:
		// The kernel drops a SYN silently when the listener's accept
		// queue is full (no RST, no SYN-ACK: the client retries). Stop
		// accepting, queue one connection of our own and cut the
		// backlog to 0: the queue is full until the window ends.
		// (A socket filter cannot do it: Linux refuses filters on TCP
		// listeners with EOPNOTSUPP.)
		l.mu.Lock()
		ln := l.ln
		paused := make(chan struct{})
		l.paused = paused
		l.mu.Unlock()
		ln.SetDeadline(time.Unix(1, 0)) // wake the accept loop
		d := net.Dialer{Timeout: time.Second}
		filler, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
		if err == nil {
			l.mu.Lock()
			l.dummy = filler.LocalAddr().String()
			l.mu.Unlock()
			err = withFD(ln, func(fd int) error { return unix.Listen(fd, 0) })
		}
		undo = func() error {
			err := withFD(ln, func(fd int) error { return unix.Listen(fd, unix.SOMAXCONN) })
			if filler != nil {
				filler.Close()
			}
			ln.SetDeadline(time.Time{})
			l.mu.Lock()
			l.paused = nil
			close(paused)
			l.mu.Unlock()
			return err
		}
		s.log.emit(Event{Kind: EventRefuse, Detail: detail, Error: errString(err)})
	}
	sleepUntil(ctx, s.cfg.Start+int64(r.At+r.For))
	if ctx.Err() != nil && r.Mode == RefuseRST {
		return
	}
	err := undo()
	if ctx.Err() != nil {
		return
	}
	s.log.emit(Event{Kind: EventRefuse, Detail: "accepting connections again", Error: errString(err)})
}

func withFD(ln *net.TCPListener, fn func(fd int) error) error {
	if ln == nil {
		return errors.New("no listener")
	}
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sleepUntil waits until the monotonic time t (ns); false if ctx ended first.
func sleepUntil(ctx context.Context, t int64) bool {
	d := time.Duration(t - tcpinfo.Monotonic())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// handle serves one connection: hello, then the client's queue until the
// connection or the run ends.
func (s *sender) handle(ctx context.Context, c *net.TCPConn, handshake time.Duration) {
	defer s.conns.Done()
	cfg := s.cfg
	id := s.nextAccept()
	h := hello{Conn: id, Client: id}
	if cfg.Hello {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := readHello(c)
		c.SetReadDeadline(time.Time{})
		if err != nil {
			s.log.emit(Event{Kind: EventError, Conn: id, Error: err.Error()})
			c.Close()
			return
		}
		h = got
	}
	connectedAt := tcpinfo.Monotonic() - cfg.Start
	eff, fd, err := applyPost(c, cfg.Socket)
	if err != nil {
		s.log.emit(Event{Kind: EventError, Conn: h.Conn, Client: h.Client, Error: err.Error()})
		c.Close()
		return
	}
	s.log.emit(Event{T: connectedAt, Kind: EventConnected, Conn: h.Conn, Client: h.Client, Addr: c.LocalAddr().String() + "->" + c.RemoteAddr().String(), Handshake: int64(handshake)})
	s.log.emit(Event{Kind: EventSocket, Conn: h.Conn, Client: h.Client, Socket: &eff})
	var resumeAt *uint64
	if h.Resume {
		resumeAt = &h.From
	}
	cur, dropped := s.feed.attach(h.Client, resumeAt)
	st := Stats{Conn: h.Conn, Client: h.Client, Dropped: dropped, ConnectedNs: connectedAt, SeqFrom: cur.next, SeqTo: cur.next}
	if !cfg.NoSample {
		s.samples.add(h.Conn, fd)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	// The server reads its client too (the client sends nothing after its
	// hello): an idle connection learns of a keepalive abort, an RST or a
	// FIN from the read, not only at its next write.
	rerr := make(chan error, 1)
	go func() {
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				rerr <- err
				return
			}
		}
	}()
	werr := s.write(ctx, c, fd, cur, &st, rerr)
	noticed := tcpinfo.Monotonic() - cfg.Start // before our close: who closed first compares these
	stop()
	ended := ctx.Err() != nil
	if !cfg.NoSample {
		st.Samples = s.samples.remove(h.Conn)
	}
	// What was taken and not wholly written goes back to the client.
	s.feed.mu.Lock()
	cur.next = st.SeqTo
	s.feed.mu.Unlock()
	closeErr := c.Close()
	st.ClosedNs = tcpinfo.Monotonic() - cfg.Start
	if dropped := s.feed.detach(cur); !ended {
		// (At the run's end what is still queued was not dropped: the
		// run ended first.)
		st.Dropped += dropped
	}
	ev := Event{T: noticed, Kind: EventClosed, Conn: h.Conn, Client: h.Client}
	if ended {
		ev.T = st.ClosedNs
	}
	switch {
	case errors.Is(werr, errPolicyReset) || errors.Is(werr, errIdleClose):
		ev.Error = werr.Error()
	case werr != nil && !ended:
		ev.Error = describe(werr)
	case closeErr != nil:
		ev.Error = describe(closeErr)
	}
	s.log.emit(ev)
	s.log.emit(Event{Kind: EventStats, Conn: h.Conn, Client: h.Client, Stats: &st})
	s.totalMu.Lock()
	s.total.Add(&st)
	s.totalMu.Unlock()
}

func (s *sender) nextAccept() int {
	s.totalMu.Lock()
	defer s.totalMu.Unlock()
	s.accepts++
	return s.accepts - 1
}

// errIdleClose ends a connection the sender closed for idleness.
var errIdleClose = errors.New("closed by the sender: idle (close_idle)")

// write sends the client's queue: messages taken from the feed in chunks,
// each write bounded by writeSlice so the reset policy and the idle check
// keep watching while the socket is full. A chunk cut short stays pending.
func (s *sender) write(ctx context.Context, c *net.TCPConn, fd int, cur *clientCursor, st *Stats, rerr <-chan error) error {
	cfg := s.cfg
	mean := s.sizes.mean()
	perChunk := max(1, sendChunk/mean)
	times := make([]int64, perChunk)
	sizes := make([]int, 0, perChunk)             // sizes of the pending messages
	buf := make([]byte, 0, sendChunk+s.sizes.max) // grows once to the largest chunk seen
	var pending []byte
	head := 0 // bytes of sizes[0] already written
	now := func() int64 { return tcpinfo.Monotonic() - cfg.Start }
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	lastWrite := now()
	over := int64(-1)
	var q tcpinfo.Queues
	var rd tcpinfo.Reader
	for ctx.Err() == nil {
		if len(pending) == 0 {
			wake := s.feed.wait()
			t := now()
			seq, n, skipped := s.feed.take(cur, times, t)
			st.Dropped += skipped
			if skipped > 0 {
				st.SeqTo = seq
			}
			if n == 0 {
				if cfg.CloseIdle > 0 && time.Duration(t-lastWrite) >= cfg.CloseIdle {
					return errIdleClose
				}
				if err := s.policy(fd, cur, 0, &over, &q, &rd, st); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
				case <-wake:
				case <-tick.C:
				case err := <-rerr:
					return readEnd(err)
				}
				continue
			}
			buf, sizes, head = buf[:0], sizes[:0], 0
			for i := 0; i < n; i++ {
				sq := seq + uint64(i)
				size := s.sizes.size(sq)
				off := len(buf)
				buf = slices.Grow(buf, size)[:off+size]
				PutHeader(buf[off:], uint32(size), sq, times[i])
				sizes = append(sizes, size)
			}
			pending = buf
		}
		c.SetWriteDeadline(time.Now().Add(writeSlice))
		w, err := c.Write(pending)
		pending = pending[w:]
		if w > 0 {
			lastWrite = now()
			st.Bytes += uint64(w)
			sawData(st, w, cfg.Start)
			// Count the messages wholly written.
			head += w
			for len(sizes) > 0 && head >= sizes[0] {
				head -= sizes[0]
				sizes = sizes[1:]
				st.Messages++
				st.SeqTo++
			}
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return writeEnd(err, rerr)
		}
		if err := s.policy(fd, cur, len(pending), &over, &q, &rd, st); err != nil {
			return err
		}
		select {
		case err := <-rerr:
			return readEnd(err)
		default:
		}
	}
	return nil
}

// writeEnd is the error a failed write reports. The socket's error (a user
// timeout's ETIMEDOUT, an RST's ECONNRESET) goes to whichever of the read
// and the write asks first, and the other finds the socket closed: a write
// that gets EPIPE takes the read's error when the read got one (it got
// ETIMEDOUT at the same instant in a run where the write said EPIPE).
func writeEnd(err error, rerr <-chan error) error {
	if !errors.Is(err, syscall.EPIPE) {
		return err
	}
	select {
	case r := <-rerr:
		if r != nil && !errors.Is(r, io.EOF) && !errors.Is(r, os.ErrDeadlineExceeded) {
			return r
		}
	case <-time.After(100 * time.Millisecond):
	}
	return err
}

// readEnd is what the server's read of its client says about the
// connection: EOF (the client closed) or the socket's error.
func readEnd(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil // the run ended
	}
	return err
}

// policy applies reset_slow_client: a client whose unsent backlog (its
// queue in the feed, the chunk being written and the socket's unsent bytes)
// stays above the limit for the time is reset: SO_LINGER 0, so close sends
// an RST.
func (s *sender) policy(fd int, cur *clientCursor, pending int, over *int64, q *tcpinfo.Queues, rd *tcpinfo.Reader, st *Stats) error {
	unsent := s.feed.queued(cur)*uint64(s.sizes.mean()) + uint64(pending)
	if rd.ReadQueues(fd, q) == nil {
		unsent += uint64(q.Unsent)
	}
	st.MaxBacklog = max(st.MaxBacklog, unsent)
	pol := s.cfg.ResetSlowClient
	if pol == nil {
		return nil
	}
	t := tcpinfo.Monotonic() - s.cfg.Start
	if unsent <= pol.BacklogAbove {
		*over = -1
		return nil
	}
	if *over < 0 {
		*over = t
	}
	if time.Duration(t-*over) < pol.For {
		return nil
	}
	s.log.emit(Event{Kind: EventPolicyReset, Conn: st.Conn, Client: st.Client, Detail: fmt.Sprintf("unsent backlog %d B above %d B for %v: reset (RST)", unsent, pol.BacklogAbove, pol.For)})
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	return errPolicyReset
}

// dial connects to the receiver (a sender that connects, or a client's
// first connection): it retries while the listener is not up yet, bounded
// by the run.
func dial(ctx context.Context, cfg *Config) (*net.TCPConn, time.Duration, error) {
	d := net.Dialer{KeepAlive: -1}
	for {
		c, hs, err := dialTimed(ctx, d, cfg.Socket, cfg.Addr)
		if err == nil {
			return c, hs, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
			return nil, 0, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
