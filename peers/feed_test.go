package peers

import (
	"math"
	"testing"
)

// TestFeedQueuesAndDrops walks a feed by hand: two clients, one falls
// behind, one leaves without resume (its queue is dropped and counted),
// one comes back.
func TestFeedQueuesAndDrops(t *testing.T) {
	f := newFeed(false, sizer{kind: SizeFixed, avg: 100, max: 100})
	f.mu.Lock()
	f.push(10, 1)
	f.release(10)
	f.mu.Unlock()
	a, d := f.attach(0, nil)
	b, _ := f.attach(1, nil)
	if d != 0 || a.next != 10 || b.next != 10 {
		t.Fatalf("new clients start at the live end: a %+v b %+v dropped %d", a, b, d)
	}
	f.mu.Lock()
	f.push(100, 2)
	f.release(110)
	f.mu.Unlock()
	dst := make([]int64, 30)
	seq, n, skipped := f.take(a, dst, 3)
	if seq != 10 || n != 30 || skipped != 0 || dst[0] != 2 {
		t.Fatalf("take: seq %d n %d skipped %d t %d", seq, n, skipped, dst[0])
	}
	if q := f.queued(a); q != 70 {
		t.Errorf("a's queue %d, want 70", q)
	}
	if q := f.queued(b); q != 100 {
		t.Errorf("b's queue %d, want 100", q)
	}
	// b leaves: its 100 queued messages are dropped.
	if d := f.detach(b); d != 100 {
		t.Errorf("detach dropped %d, want 100", d)
	}
	f.mu.Lock()
	f.push(5, 4)
	f.release(115)
	f.mu.Unlock()
	// b comes back without resume: it missed the 5 released meanwhile.
	b2, d := f.attach(1, nil)
	if d != 5 || b2.next != 115 {
		t.Errorf("return without resume: dropped %d next %d, want 5 and 115", d, b2.next)
	}
	// The feed keeps only what a connected client still needs.
	if f.base != 40 {
		t.Errorf("base %d, want 40 (a's place)", f.base)
	}
}

// TestFeedResume: with resume a client that comes back gets everything from
// its resume point, including what died in its old connection.
func TestFeedResume(t *testing.T) {
	f := newFeed(true, sizer{kind: SizeFixed, avg: 100, max: 100})
	c, _ := f.attach(0, nil)
	f.mu.Lock()
	f.push(50, 7)
	f.release(50)
	f.mu.Unlock()
	dst := make([]int64, 50)
	if _, n, _ := f.take(c, dst, 8); n != 50 {
		t.Fatalf("took %d", n)
	}
	f.detach(c)
	f.mu.Lock()
	f.push(20, 9)
	f.release(70)
	f.mu.Unlock()
	// The client read up to 39; it asks for 40.
	from := uint64(40)
	c2, d := f.attach(0, &from)
	if d != 0 || c2.next != 40 {
		t.Fatalf("resume: dropped %d next %d", d, c2.next)
	}
	seq, n, _ := f.take(c2, dst, 10)
	if seq != 40 || n != 30 || dst[0] != 7 || dst[10] != 9 {
		t.Errorf("backfill: seq %d n %d times %d %d", seq, n, dst[0], dst[10])
	}
}

// TestFeedRetentionBound: past maxKeep the oldest messages go, and a client
// whose place is older skips them, counted.
func TestFeedRetentionBound(t *testing.T) {
	f := newFeed(false, sizer{kind: SizeFixed, avg: 100, max: 100})
	f.maxKeep = 4096
	c, _ := f.attach(0, nil)
	f.mu.Lock()
	f.push(5000, 1)
	f.release(5000)
	f.mu.Unlock()
	dst := make([]int64, 10)
	seq, n, skipped := f.take(c, dst, 2)
	if skipped != 5000-4096 || seq != 5000-4096 || n != 10 {
		t.Errorf("skipped %d seq %d n %d", skipped, seq, n)
	}
}

// TestFeedBulk: in a bulk phase a client that has taken everything gets
// fresh messages, and a second client queues them.
func TestFeedBulk(t *testing.T) {
	f := newFeed(false, sizer{kind: SizeFixed, avg: 100, max: 100})
	f.bulk = true
	a, _ := f.attach(0, nil)
	b, _ := f.attach(1, nil)
	dst := make([]int64, 64)
	if seq, n, _ := f.take(a, dst, 5); seq != 0 || n != 64 {
		t.Fatalf("bulk take: seq %d n %d", seq, n)
	}
	if q := f.queued(b); q != 64 {
		t.Errorf("the slower client's queue %d, want 64", q)
	}
}

// TestSizerDistributions: sizes follow the distribution's mean, stay in
// bounds, and are a function of the sequence number.
func TestSizerDistributions(t *testing.T) {
	for _, kind := range []string{SizeUniform, SizeExponential} {
		s := sizer{kind: kind, avg: 1000, max: 16000, seed: 42}
		var sum float64
		const n = 200000
		for i := uint64(0); i < n; i++ {
			z := s.size(i)
			if z < HeaderSize || z > 16000 {
				t.Fatalf("%s: size %d out of bounds", kind, z)
			}
			sum += float64(z)
		}
		mean := sum / n
		if math.Abs(mean-1000) > 15 {
			t.Errorf("%s: mean %.1f, want about 1000", kind, mean)
		}
		if s.size(123) != s.size(123) {
			t.Errorf("%s: sizes are not a function of the sequence number", kind)
		}
	}
	fixed := sizer{kind: SizeFixed, avg: 300, max: 300}
	if fixed.size(5) != 300 {
		t.Error("fixed size")
	}
}

func TestHello(t *testing.T) {
	var b [helloSize]byte
	h := hello{Conn: 1003, Client: 7, Resume: true, From: 1 << 40}
	h.put(b[:])
	got, err := readHello(&sliceReader{b[:]})
	if err != nil || got != h {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	b[0] = 'X'
	if _, err := readHello(&sliceReader{b[:]}); err == nil {
		t.Error("a bad magic was accepted")
	}
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// BenchmarkFeedTake: one client taking 64 messages at a time from a feed
// that keeps producing: the per-message path of the sender allocates nothing.
func BenchmarkFeedTake(b *testing.B) {
	f := newFeed(false, sizer{kind: SizeExponential, avg: 1000, max: 16000, seed: 1})
	c, _ := f.attach(0, nil)
	dst := make([]int64, 64)
	buf := make([]byte, 0, 64*16000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.mu.Lock()
		f.push(64, int64(i))
		f.release(f.produced)
		f.mu.Unlock()
		seq, n, _ := f.take(c, dst, int64(i))
		buf = buf[:0]
		for k := 0; k < n; k++ {
			size := f.sizes.size(seq + uint64(k))
			off := len(buf)
			buf = buf[:off+size]
			PutHeader(buf[off:], uint32(size), seq+uint64(k), dst[k])
		}
	}
	b.SetBytes(64 * 1000)
}
