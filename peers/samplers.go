package peers

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/tcplab/tcplab/tcpinfo"
	"golang.org/x/sys/unix"
)

// sampleSet samples every open connection of a peer process each interval
// from one goroutine into one buffer, so a thousand connections cost one
// clock and one writer, not a thousand. The clock is a tcpinfo.Ticker (a
// timerfd on a real-time thread), which counts the ticks the sampler was
// late for. Up to diagAbove connections each tick reads each socket
// (getsockopt); from diagAbove on, one sock_diag dump of the peer's
// namespace reads them all, about a third of the cost per socket. A
// connection leaves the set before its socket is closed, so a reused
// descriptor is never read.
type sampleSet struct {
	mu       sync.Mutex
	conns    map[int]sampled // by connection id
	byCookie map[uint64]int  // connection id by socket cookie
	r        tcpinfo.Reader
	diag     *tcpinfo.DiagConn // opened at the first dump (nil: getsockopt)
	diagErr  error             // the dump could not be used: getsockopt
	smp      tcpinfo.Sample
	buf      []byte
	w        io.Writer
	side     string
	start    int64
	every    int64             // ns
	count    map[int]int       // samples taken per connection id
	clock    tcpinfo.ClockStat // the ticker's account, set when it stops
	err      error
}

type sampled struct {
	fd     int
	cookie uint64
}

// diagAbove is the number of connections from which a tick dumps the
// namespace instead of reading each socket: a dump costs about 1.5 µs a
// socket plus a fixed ~30 µs, a getsockopt sample about 10 µs
// (BenchmarkDiagDump10k, BenchmarkSampleFull).
const diagAbove = 8

func newSampleSet(cfg *Config, w io.Writer) *sampleSet {
	return &sampleSet{conns: map[int]sampled{}, byCookie: map[uint64]int{}, buf: make([]byte, 0, flushSamplesAt+4096),
		count: map[int]int{}, w: w, side: cfg.Role, start: cfg.Start, every: int64(cfg.SampleInterval)}
}

// flushSamplesAt is the buffer fill at which samples are written.
const flushSamplesAt = 60 << 10

// add starts sampling fd as connection id, with one sample at once.
func (s *sampleSet) add(id, fd int) {
	cookie, _ := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[id] = sampled{fd: fd, cookie: cookie}
	if cookie != 0 {
		s.byCookie[cookie] = id
	}
	s.once(id, fd)
}

// remove takes a last sample of connection id and stops sampling it. Call
// it before closing the socket. It returns the samples taken of it.
func (s *sampleSet) remove(id int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[id]; ok {
		s.once(id, c.fd)
		delete(s.conns, id)
		delete(s.byCookie, c.cookie)
	}
	return s.count[id]
}

// once samples one socket into the buffer (locked).
func (s *sampleSet) once(id, fd int) {
	s.smp.T = tcpinfo.Monotonic() - s.start
	s.smp.Side, s.smp.Conn, s.smp.Source = s.side, id, tcpinfo.SourceGetsockopt
	if s.r.Read(fd, &s.smp) != nil {
		return
	}
	s.put(id)
}

// put appends the sample in s.smp (locked).
func (s *sampleSet) put(id int) {
	s.buf = s.smp.AppendJSON(s.buf)
	s.count[id]++
	if len(s.buf) >= flushSamplesAt {
		s.flush()
	}
}

// tick samples every connection once (locked): one dump of the namespace
// when there are many, else each socket.
func (s *sampleSet) tick() {
	if len(s.conns) >= diagAbove && s.diagErr == nil {
		if s.dump() {
			return
		}
	}
	for id, c := range s.conns {
		s.once(id, c.fd)
	}
}

// dump samples the set's sockets from one sock_diag dump; false when the
// dump cannot be used (the caller then reads each socket, now and after).
func (s *sampleSet) dump() bool {
	if s.diag == nil {
		fd, err := tcpinfo.OpenDiagSocket()
		if err != nil {
			s.diagErr = err
			return false
		}
		s.diag = tcpinfo.NewDiagConn(fd)
	}
	now := tcpinfo.Monotonic() - s.start
	seen := 0
	err := s.diag.Dump(tcpinfo.DiagFilter{States: tcpinfo.StateAll &^ (tcpinfo.StateListen | tcpinfo.StateTimeWait)}, func(d *tcpinfo.DiagSocket) {
		id, ok := s.byCookie[d.Cookie]
		if !ok {
			return
		}
		seen++
		s.smp = tcpinfo.Sample{T: now, Side: s.side, Conn: id}
		s.smp.FromDiag(d)
		s.put(id)
	})
	if err != nil {
		s.diagErr = err
		s.diag.Close()
		s.diag = nil
		return false
	}
	if seen == 0 && len(s.conns) > 0 {
		// No cookie matched (a kernel without SO_COOKIE): read each socket.
		s.diagErr = errors.New("no socket of the set in the dump")
		s.diag.Close()
		s.diag = nil
		return false
	}
	return true
}

func (s *sampleSet) flush() {
	if len(s.buf) == 0 {
		return
	}
	if _, err := s.w.Write(s.buf); err != nil && s.err == nil {
		s.err = err
	}
	s.buf = s.buf[:0]
}

// run samples every connection each tick until ctx ends, then writes what
// is buffered.
func (s *sampleSet) run(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		s.flush()
		if s.diag != nil {
			s.diag.Close()
			s.diag = nil
		}
		s.mu.Unlock()
	}()
	t, err := tcpinfo.NewTicker(ctx, s.every)
	if err != nil {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		return
	}
	defer func() {
		st := t.Close()
		s.mu.Lock()
		s.clock = st
		s.mu.Unlock()
	}()
	for {
		if _, err := t.Wait(); err != nil {
			return
		}
		s.mu.Lock()
		s.tick()
		s.mu.Unlock()
	}
}

// launch runs the set until the returned stop is called (which waits for the
// last flush); with off it samples nothing.
func (s *sampleSet) launch(ctx context.Context, off bool) (stop func()) {
	if off {
		return func() {}
	}
	// One P more than the peer's own goroutines can hold: the sampler's
	// thread, woken at its tick, finds a free P at once instead of
	// queueing behind a busy writer's goroutines (at 1 ms under bulk load
	// that queueing missed 1% of the ticks).
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// account adds the clock's ticks and missed ticks to st (after stop).
func (s *sampleSet) account(st *Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.SampleTicks, st.SampleTicksMissed, st.SampleRealtime = s.clock.Ticks, s.clock.Missed, s.clock.Realtime
	st.SampleCPUS = float64(s.clock.CPU) / 1e9
}
