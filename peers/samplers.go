package peers

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/tcplab/tcplab/tcpinfo"
)

// sampleSet samples every open connection of a peer process each interval
// from one goroutine into one buffer, so a thousand connections cost one
// timer and one writer, not a thousand. A connection leaves the set before
// its socket is closed, so a reused descriptor is never read.
type sampleSet struct {
	mu    sync.Mutex
	conns map[int]int // socket by connection id
	r     tcpinfo.Reader
	smp   tcpinfo.Sample
	buf   []byte
	w     io.Writer
	side  string
	start int64
	every time.Duration
	count map[int]int // samples taken per connection id
	err   error
}

func newSampleSet(cfg *Config, w io.Writer) *sampleSet {
	return &sampleSet{conns: map[int]int{}, buf: make([]byte, 0, flushSamplesAt+4096), count: map[int]int{}, w: w, side: cfg.Role, start: cfg.Start, every: cfg.SampleInterval}
}

// flushSamplesAt is the buffer fill at which samples are written.
const flushSamplesAt = 60 << 10

// add starts sampling fd as connection id, with one sample at once.
func (s *sampleSet) add(id, fd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[id] = fd
	s.once(id, fd)
}

// remove takes a last sample of connection id and stops sampling it. Call
// it before closing the socket. It returns the samples taken of it.
func (s *sampleSet) remove(id int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fd, ok := s.conns[id]; ok {
		s.once(id, fd)
		delete(s.conns, id)
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
	s.buf = s.smp.AppendJSON(s.buf)
	s.count[id]++
	if len(s.buf) >= flushSamplesAt {
		s.flush()
	}
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

// run samples every connection each interval until ctx ends, then writes
// what is buffered.
func (s *sampleSet) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.flush()
			s.mu.Unlock()
			return
		case <-t.C:
			s.mu.Lock()
			for id, fd := range s.conns {
				s.once(id, fd)
			}
			s.mu.Unlock()
		}
	}
}

// launch runs the set until the returned stop is called (which waits for the
// last flush); with off it samples nothing.
func (s *sampleSet) launch(ctx context.Context, off bool) (stop func()) {
	if off {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	return func() { cancel(); <-done }
}
