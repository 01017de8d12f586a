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

// TestDeframerCutShort: a message whose payload never completes (the
// connection died) is not reported; one that completes is, once.
func TestDeframerCutShort(t *testing.T) {
	m := make([]byte, 100)
	PutHeader(m, 100, 7, 0)
	var d Deframer
	n := 0
	if err := d.Feed(m[:60], func(Message) { n++ }); err != nil || n != 0 {
		t.Fatalf("after 60 of 100 bytes: %d messages, err %v", n, err)
	}
	if err := d.Feed(m[60:], func(Message) { n++ }); err != nil || n != 1 {
		t.Fatalf("after all 100 bytes: %d messages, err %v", n, err)
	}
}
