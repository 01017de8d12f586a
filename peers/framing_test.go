package peers

import (
	"math/rand"
	"testing"
)

// TestDeframerAnySplit feeds a stream of messages cut at random places and
// gets every header back in order.
func TestDeframerAnySplit(t *testing.T) {
	var stream []byte
	sizes := []int{20, 21, 100, 1024, 4096, 20, 65536}
	for i, sz := range sizes {
		m := make([]byte, sz)
		PutHeader(m, uint32(sz), uint64(i), int64(1000*i))
		stream = append(stream, m...)
	}
	r := rand.New(rand.NewSource(7))
	for trial := 0; trial < 200; trial++ {
		var d Deframer
		var got []Message
		rest := stream
		for len(rest) > 0 {
			n := 1 + r.Intn(3000)
			if n > len(rest) {
				n = len(rest)
			}
			if err := d.Feed(rest[:n], func(m Message) { got = append(got, m) }); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if len(got) != len(sizes) {
			t.Fatalf("trial %d: %d messages, want %d", trial, len(got), len(sizes))
		}
		for i, m := range got {
			if m.Seq != uint64(i) || int(m.Size) != sizes[i] || m.Sent != int64(1000*i) {
				t.Fatalf("trial %d: message %d = %+v", trial, i, m)
			}
		}
	}
}

func TestDeframerCorrupt(t *testing.T) {
	var d Deframer
	b := make([]byte, 20)
	PutHeader(b, 5, 0, 0) // shorter than a header
	if err := d.Feed(b, func(Message) {}); err == nil {
		t.Error("a 5-byte message length was accepted")
	}
}

func TestDeframerNoAllocs(t *testing.T) {
	b := make([]byte, 64<<10)
	for off := 0; off+1024 <= len(b); off += 1024 {
		PutHeader(b[off:], 1024, uint64(off), 0)
	}
	var d Deframer
	n := 0
	fn := func(Message) { n++ }
	if a := testing.AllocsPerRun(50, func() { d.Feed(b, fn) }); a != 0 {
		t.Errorf("Feed allocates %.0f times per 64 KiB", a)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for v := uint64(1); v <= 10000; v++ {
		h.Add(v)
	}
	for _, c := range []struct {
		q    float64
		want uint64
	}{{0.5, 5000}, {0.99, 9900}, {0, 1}} {
		got := h.Quantile(c.q)
		if float64(got) < 0.93*float64(c.want) || float64(got) > 1.0001*float64(c.want) {
			t.Errorf("q%.2f = %d, want ≈%d (within one bucket, 1/16)", c.q, got, c.want)
		}
	}
	if h.Max() != 10000 || h.Count() != 10000 {
		t.Errorf("max %d count %d", h.Max(), h.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram quantile not 0")
	}
	h.Add(1 << 62)
	if h.Quantile(1) != 1<<62 {
		t.Errorf("huge value: %d", h.Quantile(1))
	}
}
