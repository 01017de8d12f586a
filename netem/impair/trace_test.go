package impair

import (
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
)

// TestTraceDelivers: packets offered back to back to a square-wave trace
// (20 ↔ 2 Mbit/s, 2 s each) leave at the trace's rate, second by second,
// within 3%; the trace loops.
func TestTraceDelivers(t *testing.T) {
	tr, err := ParseMahimahi("square.trace", strings.NewReader(labtest.SquareTrace(20, 2, 2*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Period != int64(4*time.Second) {
		t.Fatalf("period %v", time.Duration(tr.Period))
	}
	if m := tr.MeanBits(); m < 10.9e6 || m > 11.1e6 {
		t.Fatalf("mean %.0f bit/s, want 11 Mbit/s", m)
	}
	// Offer MTU-sized packets as fast as the trace takes them, for 8 s
	// (two loops).
	perSecond := map[int64]int{}
	var k int64
	left, prev := 0, int64(-1)
	start := int64(0)
	for {
		at, nk, nl := tr.Departure(k, left, prev, start, TraceMTU)
		if at >= int64(8*time.Second) {
			break
		}
		perSecond[at/int64(time.Second)] += TraceMTU
		k, left, prev, start = nk, nl, at, at
	}
	for sec := int64(0); sec < 8; sec++ {
		want := 20e6
		if sec%4 >= 2 {
			want = 2e6
		}
		got := float64(perSecond[sec]) * 8
		if got < 0.97*want || got > 1.03*want {
			t.Errorf("second %d: %.2f Mbit/s delivered, the trace gives %.0f", sec, got/1e6, want/1e6)
		}
	}
	// A packet offered after a long idle gap waits for the next opportunity
	// only (at 2 Mbit/s, one every 6 ms).
	at, _, _ := tr.Departure(0, 0, -1, int64(2500*time.Millisecond), 100)
	if at < int64(2500*time.Millisecond) || at > int64(2506*time.Millisecond) {
		t.Errorf("a lone packet at 2.5 s left at %v", time.Duration(at))
	}
}

// TestParseMahimahiErrors: a bad trace is refused with its line.
func TestParseMahimahiErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"1\n2\nx\n", "t.trace:3: \"x\" is not a time in whole milliseconds"},
		{"5\n3\n", "t.trace:2: 3 ms comes before the line above (5 ms)"},
		{"# only a comment\n", "t.trace: no delivery opportunity"},
		{"0\n0\n", "its last line is at 0 ms"},
		{"-4\n", "t.trace:1:"},
	} {
		_, err := ParseMahimahi("t.trace", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
	im := Impairment{RateBits: 1e6, Trace: &Trace{At: []int64{1e6}, Period: 1e6}}
	if err := im.Validate(); err == nil || !strings.Contains(err.Error(), "a rate and a trace") {
		t.Errorf("rate and trace: %v", err)
	}
}
