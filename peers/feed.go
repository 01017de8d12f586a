package peers

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/tcplab/tcplab/tcpinfo"
)

// feed is the sender's message stream, shared by every client: the
// application produces messages at the schedule's rate (each one's
// production time kept, so lag counts every wait), and releases them to the
// clients (a pause holds them back, a replay lets them go at its own rate).
// Each client has a cursor: the next message it is sent. What lies between
// a client's cursor and the released end is that client's queue. One
// sequence space serves every client, so a receiver counts gaps and
// duplicates across its reconnections.
//
// In a bulk phase (rate max) the feed produces on demand: a client that
// has sent everything released gets fresh messages, so the fastest client
// sets the pace and slower ones build a queue.
type feed struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when messages are released
	waiters  bool          // someone holds changed (else releasing need not replace it)
	times    []int64       // ring: production times of [base, produced)
	head     int           // ring index of base
	base     uint64        // oldest message still kept
	produced uint64        // messages produced so far (next sequence number)
	released uint64        // messages released to clients
	bulk     bool          // the current phase produces on demand
	clients  map[int]*clientCursor
	resume   bool // disconnected clients keep their place (retention)
	maxKeep  int
	sizes    sizer
}

// clientCursor is a client's place in the feed.
type clientCursor struct {
	next      uint64 // next message to send it
	keep      uint64 // with resume: kept from here (the connection's first message)
	counted   uint64 // messages before this are already counted as dropped
	connected bool
}

// maxRetained bounds the messages a feed keeps for slow or disconnected
// clients (8 bytes each: 32 MiB). Past it the oldest go, and a client
// whose place is older skips them (counted as dropped).
const maxRetained = 1 << 22

func newFeed(resume bool, sz sizer) *feed {
	return &feed{changed: make(chan struct{}), clients: map[int]*clientCursor{}, resume: resume, maxKeep: maxRetained, sizes: sz}
}

// wait returns a channel closed when more messages are released.
func (f *feed) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiters = true
	return f.changed
}

func (f *feed) signal() {
	if !f.waiters {
		return
	}
	close(f.changed)
	f.changed = make(chan struct{})
	f.waiters = false
}

// push appends n messages produced at t (locked).
func (f *feed) push(n uint64, t int64) {
	for ; n > 0; n-- {
		kept := int(f.produced - f.base)
		if kept == len(f.times) {
			if kept >= f.maxKeep {
				f.head = (f.head + 1) % len(f.times)
				f.base++
				kept--
			} else {
				grown := make([]int64, max(4096, min(2*len(f.times), f.maxKeep)))
				for i := 0; i < kept; i++ {
					grown[i] = f.times[(f.head+i)%len(f.times)]
				}
				f.times, f.head = grown, 0
			}
		}
		f.times[(f.head+kept)%len(f.times)] = t
		f.produced++
	}
}

// trim forgets messages no client needs any more (locked).
func (f *feed) trim() {
	low := f.released
	for _, c := range f.clients {
		switch {
		case f.resume:
			// Anything since the connection began may sit unread in its
			// buffers and be asked for again.
			low = min(low, c.next, c.keep)
		case c.connected:
			low = min(low, c.next)
		}
	}
	if low > f.base && len(f.times) > 0 {
		k := low - f.base
		f.head = int((uint64(f.head) + k) % uint64(len(f.times)))
		f.base = low
	}
}

// release lets messages up to n go to the clients (locked).
func (f *feed) release(n uint64) {
	n = min(n, f.produced)
	if n > f.released {
		f.released = n
		f.signal()
	}
}

// attach registers a connection of client id; resumeAt, when non-nil, is
// the message the client asks to start from. It returns the cursor and how
// many messages the client skips (dropped: it will never be sent them).
func (f *feed) attach(id int, resumeAt *uint64) (c *clientCursor, dropped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c = f.clients[id]
	if c == nil {
		// A new client starts with what is released from now on.
		c = &clientCursor{next: f.released}
		f.clients[id] = c
	}
	switch {
	case resumeAt != nil && f.resume:
		// Backfill from the resume point; what the feed no longer keeps
		// is lost to the client.
		want := *resumeAt
		if want < f.base {
			dropped = f.base - want
			want = f.base
		}
		c.next = min(want, f.released)
	default:
		// No resume: the client starts at the live end; what it missed is
		// gone (counted once: what its last connection left is counted at
		// its detach).
		if from := max(c.next, c.counted); f.released > from {
			dropped = f.released - from
		}
		c.next = f.released
	}
	if c.next < f.base {
		if from := max(c.next, c.counted); f.base > from {
			dropped += f.base - from
		}
		c.next = f.base
	}
	c.counted = max(c.counted, c.next)
	c.connected = true
	c.keep = c.next
	return c, dropped
}

// detach marks the client's connection gone. Without resume its queue is
// discarded at once and counted; with resume it is kept for a return.
func (f *feed) detach(c *clientCursor) (dropped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.connected = false
	if !f.resume {
		if f.released > max(c.next, c.counted) {
			dropped = f.released - max(c.next, c.counted)
		}
		c.next, c.counted = f.released, f.released
	}
	f.trim()
	return dropped
}

// queued is the number of messages released and not yet taken by c.
func (f *feed) queued(c *clientCursor) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.released - c.next
}

// take copies the production times of up to len(dst) messages for c, from
// its cursor on, and advances the cursor. In a bulk phase it produces fresh
// messages when c has taken everything. It returns the first sequence
// number, how many it took, and how many c skipped because the feed no
// longer kept them.
func (f *feed) take(c *clientCursor, dst []int64, now int64) (seq uint64, n int, skipped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.next < f.base {
		skipped = f.base - c.next
		c.next = f.base
	}
	if c.next == f.released && f.bulk {
		f.push(uint64(len(dst)), now)
		f.release(f.produced)
	}
	n = int(min(uint64(len(dst)), f.released-c.next))
	for i := 0; i < n; i++ {
		dst[i] = f.times[(f.head+int(c.next-f.base)+i)%len(f.times)]
	}
	seq = c.next
	c.next += uint64(n)
	if n > 0 {
		f.trim()
	}
	return seq, n, skipped
}

// produce runs the schedule: production at the phase's rate, releases by
// the phase's kind. It returns when the run ends.
func (f *feed) produce(ctx context.Context, cfg *Config) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	pr := &producer{f: f, cfg: cfg, ctx: ctx, tick: tick, mean: float64(f.sizes.mean())}
	for {
		for i, p := range cfg.Schedule {
			last := i == len(cfg.Schedule)-1 && !cfg.Repeat
			if !pr.phase(p, last) || ctx.Err() != nil {
				return
			}
		}
		if !cfg.Repeat {
			break
		}
	}
	// Past the last phase (a replay that ended): production goes on.
	for pr.sleep() {
		pr.step(pr.now(), false)
	}
}

// producer is the state of a feed's production: production follows the
// rate exactly in time, exact(t) messages by t.
type producer struct {
	f    *feed
	cfg  *Config
	ctx  context.Context
	tick *time.Ticker
	mean float64 // mean message size

	rate float64 // messages per second since from
	from int64
	base float64 // messages produced by from
}

func (pr *producer) now() int64 { return tcpinfo.Monotonic() - pr.cfg.Start }

func (pr *producer) msgsPerSec(bits uint64, msgs float64) float64 {
	if msgs > 0 {
		return msgs
	}
	return float64(bits) / 8 / pr.mean
}

// sleep waits for the next tick; false when the run is over.
func (pr *producer) sleep() bool {
	select {
	case <-pr.ctx.Done():
		return false
	case <-pr.tick.C:
		return true
	}
}

func (pr *producer) exact(t int64) float64 { return pr.base + float64(t-pr.from)/1e9*pr.rate }

func (pr *producer) setRate(r float64, t int64) {
	f := pr.f
	f.mu.Lock()
	if pr.rate > 0 {
		pr.base = pr.exact(t)
	} else {
		pr.base = float64(f.produced)
	}
	pr.rate, pr.from = r, t
	f.mu.Unlock()
}

// step produces what is due at t and releases per the phase: all (hold
// false) or nothing more (hold true).
func (pr *producer) step(t int64, hold bool) {
	f := pr.f
	f.mu.Lock()
	if pr.rate > 0 {
		if due := uint64(pr.exact(t)); due > f.produced {
			f.push(due-f.produced, t)
		}
	}
	if !hold {
		f.release(f.produced)
	}
	f.mu.Unlock()
}

func (pr *producer) setBulk(b bool) {
	f := pr.f
	f.mu.Lock()
	f.bulk = b
	if b {
		f.signal() // wake writers waiting for messages
	}
	f.mu.Unlock()
}

// phase runs one phase of the schedule (the last one, unless repeated,
// lasts to the end); false when the run ended inside it.
func (pr *producer) phase(p Phase, last bool) bool {
	start := pr.now()
	end := int64(math.MaxInt64)
	if p.For > 0 && !last {
		end = start + int64(p.For)
	}
	switch p.Kind {
	case PhaseRate:
		r := pr.msgsPerSec(p.Bits, p.Msgs)
		pr.step(start, false)
		pr.setRate(r, start)
		pr.setBulk(r == 0)
		for pr.now() < end && pr.sleep() {
			pr.step(pr.now(), false)
		}
		pr.setBulk(false)
	case PhaseOff:
		pr.step(start, false)
		pr.setRate(0, start)
		end = start + int64(p.For)
		for pr.now() < end && pr.sleep() {
		}
	case PhaseRamp:
		from, to := pr.msgsPerSec(p.Bits, p.Msgs), pr.msgsPerSec(p.ToBits, p.ToMsgs)
		end = start + int64(p.For)
		for t := pr.now(); t < end; t = pr.now() {
			// Piecewise constant at the tick: the rate of this millisecond.
			pr.step(t, false)
			pr.setRate(from+(to-from)*float64(t-start)/float64(p.For), t)
			if !pr.sleep() {
				return false
			}
		}
		pr.step(pr.now(), false)
		pr.setRate(to, pr.now())
	case PhasePause:
		if p.For > 0 {
			end = start + int64(p.For)
		}
		for pr.now() < end && pr.sleep() {
			pr.step(pr.now(), true)
		}
	case PhaseReplay:
		pr.replay(p, start)
	case PhaseBurst:
		pr.step(start, false)
		pr.setRate(0, start)
		return pr.bursts(p, end)
	}
	return true
}

// bursts produces and releases a burst every p.Every until end; false
// when the run ended first.
func (pr *producer) bursts(p Phase, end int64) bool {
	f := pr.f
	per := max(1, uint64(math.Round(float64(p.BurstBytes)/pr.mean)))
	next := pr.now()
	for t := next; t < end; t = pr.now() {
		if t >= next {
			f.mu.Lock()
			f.push(per, t)
			f.release(f.produced)
			f.mu.Unlock()
			next += int64(p.Every)
		}
		if !pr.sleep() {
			return false
		}
	}
	return true
}

// replay releases the held messages at the replay rate (all at once for
// max) while production goes on, until none are held.
func (pr *producer) replay(p Phase, start int64) {
	f := pr.f
	r := pr.msgsPerSec(p.Bits, p.Msgs)
	f.mu.Lock()
	from := f.released
	f.mu.Unlock()
	for {
		t := pr.now()
		pr.step(t, true)
		f.mu.Lock()
		allowed := f.produced
		if r > 0 {
			allowed = from + uint64(float64(t-start)/1e9*r)
		}
		f.release(allowed)
		done := f.released == f.produced
		f.mu.Unlock()
		if done || !pr.sleep() {
			break
		}
	}
}
