package userspace

import (
	"golang.org/x/sys/unix"
	"math"
	"sync"
	"time"

	"github.com/tcplab/tcplab/internal/hist"
	"github.com/tcplab/tcplab/netem/impair"
)

// slotSize holds the largest packet a TUN read returns, with its virtio header.
const slotSize = vnetHdrLen + 65535

// slot is one packet buffer and, while queued, the packet's schedule.
type slot struct {
	buf  [slotSize]byte
	n    int
	due  int64 // departure on the monotonic clock, ns
	seq  uint64
	segs int
	// heap index
	idx int
}

// Counters of one direction. Segments are counted: a super-packet of 40
// TCP segments forwarded whole counts 40.
type Counters struct {
	Packets   uint64 `json:"packets"` // units read from the TUN
	Forwarded uint64 `json:"forwarded"`
	Bytes     uint64 `json:"bytes"`
	DropLoss  uint64 `json:"dropped_loss"`
	DropQueue uint64 `json:"dropped_queue"`
	DropBlack uint64 `json:"dropped_partition"`
	// Resets counts RSTs sent back for a rebooted host (ResetReply).
	Resets uint64 `json:"resets_sent,omitempty"`
	// DropMiddlebox counts segments of flows the middlebox forgot, dropped;
	// MiddleboxResets the RSTs it answered them with instead.
	DropMiddlebox   uint64 `json:"dropped_middlebox,omitempty"`
	MiddleboxResets uint64 `json:"middlebox_resets,omitempty"`
	// KeepaliveProbes and WindowProbes count the probes that entered the
	// link in this direction: bare ACKs one below what the peer acknowledged,
	// window probes when the peer's window was zero.
	KeepaliveProbes uint64 `json:"keepalive_probes"`
	WindowProbes    uint64 `json:"window_probes"`
	Duplicated      uint64 `json:"duplicated"`
	Reordered       uint64 `json:"reordered"`
	Corrupted       uint64 `json:"corrupted"`
	WriteErrors     uint64 `json:"write_errors"`
}

// direction schedules one direction of the link. handle runs on the reader
// thread, release on the releaser thread; mu guards the queue and the
// impairment state.
type direction struct {
	name string
	idx  int // Down or Up
	mu   sync.Mutex
	im   impair.Impairment
	// flows is the link's flow table (shared by both directions; nil in
	// unit tests of the scheduler alone).
	flows *flowTable
	// back is the TUN fd packets of this direction come from: RSTs for a
	// rebooted host are written there, into the sender's namespace.
	back int
	rst  [vnetHdrLen + 40]byte

	rnd                                   *impair.Rand
	delayCor, lossCor, dupCor, corruptCor impair.Correlated
	reorderCor                            impair.Correlated
	loss32, dup32, corrupt32, reorder32   uint32
	ge                                    struct {
		a1, a2, a3, a4 uint32
		bad            bool
	}
	reorderCount uint32
	rateBps      float64
	// The trace that delivers this direction, when set: its start on the
	// monotonic clock, the next unused opportunity, the bytes left in the
	// last one used and that one's time (from the trace's start).
	trace              *impair.Trace
	traceEpoch, traceK int64
	traceLeft          int
	tracePrev          int64

	queue  slotHeap
	free   []*slot
	nslots int
	seq    uint64

	keep     []int8 // per segment: copies to send (0 lost, 1, 2 duplicated), -1 corrupt
	lateness hist.Histogram

	c Counters
	// wake tells the releaser the queue head changed.
	wake func()
}

// maxSlots bounds the buffers a direction may hold: the queue limit plus
// what is being read and written.
func (d *direction) maxSlots() int { return int(d.im.QueueLimit()) + 64 }

// set installs a new impairment; queued packets keep their schedule (as a
// netem change does).
func (d *direction) set(im impair.Impairment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seedChanged := d.rnd == nil || im.Seed != d.im.Seed
	d.im = im
	if seedChanged {
		d.rnd = impair.NewRand(im.Seed)
	}
	d.delayCor.SetCorrelation(im.DelayCorrelation)
	d.lossCor.SetCorrelation(im.LossCorrelation)
	d.dupCor.SetCorrelation(im.DuplicateCorrelation)
	d.corruptCor.SetCorrelation(im.CorruptCorrelation)
	d.loss32, d.dup32, d.corrupt32 = impair.Prob32(im.Loss), impair.Prob32(im.Duplicate), impair.Prob32(im.Corrupt)
	d.reorder32 = 0
	if im.Reorder != nil {
		d.reorder32 = impair.Prob32(im.Reorder.Probability)
		d.reorderCor.SetCorrelation(im.Reorder.Correlation)
	}
	if g := im.GE; g != nil {
		// netem's clgstate: a1 = p, a2 = r, a3 = h, a4 = 1-k.
		d.ge.a1, d.ge.a2, d.ge.a3, d.ge.a4 = impair.Prob32(g.P), impair.Prob32(g.R), impair.Prob32(1-g.OneMinusH), impair.Prob32(g.OneMinusK)
	}
	d.rateBps = float64(im.RateBits) / 8
	// A new trace starts from its first line: at TraceStart, or now. The
	// same trace set again keeps its place unless a start is given.
	if im.Trace != d.trace || im.Trace != nil && im.TraceStart != 0 && im.TraceStart != d.traceEpoch {
		epoch := im.TraceStart
		if epoch == 0 {
			epoch = monotonic()
		}
		d.trace, d.traceEpoch, d.traceK, d.traceLeft, d.tracePrev = im.Trace, epoch, 0, 0, -1
	}
}

// getSlot returns a free buffer, or nil when the direction holds its maximum.
func (d *direction) getSlot() *slot {
	if n := len(d.free); n > 0 {
		s := d.free[n-1]
		d.free = d.free[:n-1]
		return s
	}
	if d.nslots >= d.maxSlots() {
		return nil
	}
	d.nslots++
	return new(slot)
}

func (d *direction) putSlot(s *slot) { d.free = append(d.free, s) }

// lost decides one segment's loss as netem's loss_event.
func (d *direction) lost() bool {
	if d.im.GE != nil {
		g := &d.ge
		r := d.rnd
		if !g.bad {
			if r.Uint32() < g.a1 {
				g.bad = true
			}
			return r.Uint32() < g.a4
		}
		if r.Uint32() < g.a2 {
			g.bad = false
		}
		return r.Uint32() > g.a3
	}
	return d.loss32 != 0 && impair.Hit(d.loss32, d.lossCor.Next(d.rnd))
}

// handle takes a packet just read into s (s.n bytes) at time now, decides
// its fate and queues what is to be sent. It returns the slot to the pool
// when the packet is not queued whole.
func (d *direction) handle(s *slot, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := pkt(s.buf[:s.n])
	l := parse(p)
	d.c.Packets++
	verdict := passFlow
	if d.flows != nil {
		var probe int
		verdict, probe = d.flows.observe(d.idx, p, &l, now, !d.im.ResetReply && !d.im.Blackhole)
		switch probe {
		case keepaliveProbe:
			d.c.KeepaliveProbes++
		case windowProbe:
			d.c.WindowProbes++
		}
	}
	switch {
	case d.im.ResetReply:
		// A rebooted host: the packet goes nowhere, its sender gets an RST.
		d.c.DropBlack += uint64(l.segments)
		d.c.Resets += d.answerRST(p, &l)
	case d.im.Blackhole:
		d.c.DropBlack += uint64(l.segments)
	case verdict == dropFlow:
		d.c.DropMiddlebox += uint64(l.segments)
	case verdict == resetFlow:
		d.c.DropMiddlebox += uint64(l.segments)
		d.c.MiddleboxResets += d.answerRST(p, &l)
	default:
		d.forward(s, p, &l, now)
		return
	}
	d.putSlot(s)
}

// answerRST writes the RST answering p back to its sender and returns 1,
// or 0 when none was written.
func (d *direction) answerRST(p pkt, l *layout) uint64 {
	if n := rstFor(p, l, d.rst[:]); n > 0 && d.back >= 0 {
		if _, err := unix.Write(d.back, d.rst[:n]); err == nil {
			return 1
		}
	}
	return 0
}

// forward applies the per-segment impairments to a packet that crosses
// and queues what is to be sent.
func (d *direction) forward(s *slot, p pkt, l *layout, now int64) {
	if !d.anyPerSegment() {
		s.segs = l.segments
		d.enqueue(s, l, 0, l.segments, now)
		return
	}
	if cap(d.keep) < l.segments {
		d.keep = make([]int8, l.segments)
	}
	keep := d.keep[:l.segments]
	whole := true
	for i := range keep {
		c := int8(1)
		if d.dup32 != 0 && impair.Hit(d.dup32, d.dupCor.Next(d.rnd)) {
			c++
		}
		if d.lost() {
			c--
		}
		if c > 0 && d.corrupt32 != 0 && impair.Hit(d.corrupt32, d.corruptCor.Next(d.rnd)) {
			c = -1
		}
		keep[i] = c
		if c != 1 {
			whole = false
		}
		switch {
		case c == 0:
			d.c.DropLoss++
		case c == 2:
			d.c.Duplicated++
		case c == -1:
			d.c.Corrupted++
		}
	}
	if whole {
		s.segs = l.segments
		d.enqueue(s, l, 0, l.segments, now)
		return
	}
	// Cut the packet into runs: consecutive plain segments travel together;
	// duplicated and corrupted ones alone.
	for a := 0; a < len(keep); {
		switch keep[a] {
		case 0:
			a++
			continue
		case 1:
			b := a + 1
			for b < len(keep) && keep[b] == 1 {
				b++
			}
			d.emit(p, l, a, b, false, now)
			a = b
		case 2:
			d.emit(p, l, a, a+1, false, now)
			d.emit(p, l, a, a+1, false, now)
			a++
		case -1:
			d.emit(p, l, a, a+1, true, now)
			a++
		}
	}
	d.putSlot(s)
}

func (d *direction) anyPerSegment() bool {
	return d.loss32 != 0 || d.im.GE != nil || d.dup32 != 0 || d.corrupt32 != 0
}

// emit queues segments [a, b) of p as a packet of their own.
func (d *direction) emit(p pkt, l *layout, a, b int, corrupt bool, now int64) {
	s := d.getSlot()
	if s == nil {
		d.c.DropQueue += uint64(b - a)
		return
	}
	if l.ok {
		s.n = cut(s.buf[:], p, l, a, b)
	} else {
		s.n = copy(s.buf[:], p)
	}
	s.segs = b - a
	if corrupt {
		q := pkt(s.buf[:s.n])
		finishChecksum(q)
		// Flip one bit after the IP header, so the receiver's transport
		// checksum (not the IP header check) catches it, as a corrupted
		// payload would be caught.
		ip := q.ip()
		start := 20
		if len(ip) > 0 && ip[0]>>4 == 4 {
			start = int(ip[0]&0x0f) * 4
		}
		if start < len(ip) {
			i := start + int(d.rnd.Uint32()%uint32(len(ip)-start))
			ip[i] ^= 1 << (d.rnd.Uint32() % 8)
		}
	}
	d.enqueue(s, l, a, b, now)
}

// enqueue computes the packet's departure as netem_enqueue does and queues it.
func (d *direction) enqueue(s *slot, l *layout, a, b int, now int64) {
	if uint32(d.queue.Len()) >= d.im.QueueLimit() {
		d.c.DropQueue += uint64(s.segs)
		d.putSlot(s)
		return
	}
	im := &d.im
	var delay int64
	if im.Jitter > 0 {
		off := impair.Jitter(im.Distribution, d.delayCor.Next(d.rnd), float64(im.Jitter))
		delay = int64(float64(im.Delay) + off)
	} else {
		delay = int64(im.Delay)
	}
	if delay < 0 {
		delay = 0
	}
	reordered := false
	if d.reorder32 != 0 {
		gap := im.Reorder.Gap
		if gap == 0 {
			gap = 1
		}
		if d.reorderCount < gap-1 || d.reorder32 < d.reorderCor.Next(d.rnd) {
			d.reorderCount++
		} else {
			d.reorderCount = 0
			reordered = true
			delay = 0
			d.c.Reordered += uint64(s.segs)
		}
	}
	if d.trace != nil && !reordered {
		// Delivered at the trace's opportunities, then delayed.
		wire := s.n - vnetHdrLen + int(im.Overhead)
		if l.ok {
			wire = l.wireBytes(a, b, im.Overhead)
		}
		at, k, left := d.trace.Departure(d.traceK, d.traceLeft, d.tracePrev, now-d.traceEpoch, wire)
		d.traceK, d.traceLeft, d.tracePrev = k, left, at
		delay += d.traceEpoch + at - now
	} else if d.rateBps > 0 && !reordered {
		if last := d.queue.last; last != nil && d.queue.Len() > 0 {
			// The last packet's departure is the reference point.
			delay -= last.due - now
			if delay < 0 {
				delay = 0
			}
			now = last.due
		}
		wire := s.n - vnetHdrLen + int(im.Overhead)
		if l.ok {
			wire = l.wireBytes(a, b, im.Overhead)
		}
		delay += int64(math.Round(float64(wire) / d.rateBps * 1e9))
	}
	s.due = now + delay
	d.seq++
	s.seq = d.seq
	head := d.queue.Peek()
	d.queue.Push(s)
	if !reordered {
		d.queue.last = s
	}
	if head == nil || s.due < head.due {
		d.wake()
	}
}

// due pops every packet due at now into out (reusing its backing array).
func (d *direction) due(now int64, out []*slot) ([]*slot, int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		h := d.queue.Peek()
		if h == nil {
			return out, -1
		}
		if h.due > now {
			return out, h.due
		}
		d.queue.Pop()
		if d.queue.last == h {
			d.queue.last = nil
		}
		out = append(out, h)
	}
}

// sent records the release of s and returns its buffer.
func (d *direction) sent(s *slot, now int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.c.WriteErrors++
	} else {
		d.c.Forwarded += uint64(s.segs)
		d.c.Bytes += uint64(s.n - vnetHdrLen)
		if late := now - s.due; late > 0 {
			d.lateness.Add(uint64(late))
		} else {
			d.lateness.Add(0)
		}
	}
	d.putSlot(s)
}

// Snapshot returns the counters and the release lateness p50/p99/max.
func (d *direction) snapshot() (Counters, time.Duration, time.Duration, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c, time.Duration(d.lateness.Quantile(0.5)), time.Duration(d.lateness.Quantile(0.99)), time.Duration(d.lateness.Max())
}

// slotHeap is a min-heap of slots by (due, seq): netem's tfifo, which
// reorders packets whose jitter puts them ahead.
type slotHeap struct {
	h    []*slot
	last *slot // the last packet queued in order (netem's tail)
}

func (q *slotHeap) Len() int { return len(q.h) }

func (q *slotHeap) Peek() *slot {
	if len(q.h) == 0 {
		return nil
	}
	return q.h[0]
}

func (q *slotHeap) less(i, j int) bool {
	a, b := q.h[i], q.h[j]
	return a.due < b.due || (a.due == b.due && a.seq < b.seq)
}

func (q *slotHeap) swap(i, j int) {
	q.h[i], q.h[j] = q.h[j], q.h[i]
	q.h[i].idx, q.h[j].idx = i, j
}

func (q *slotHeap) Push(s *slot) {
	s.idx = len(q.h)
	q.h = append(q.h, s)
	for i := s.idx; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.swap(i, p)
		i = p
	}
}

func (q *slotHeap) Pop() *slot {
	n := len(q.h) - 1
	top := q.h[0]
	q.swap(0, n)
	q.h[n] = nil
	q.h = q.h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.swap(i, m)
		i = m
	}
	return top
}
