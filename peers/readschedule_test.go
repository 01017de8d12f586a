package peers

import (
	"testing"
	"time"
)

// TestReadRateAt: each phase holds for its time from the run's start; the
// last lasts to the end, also with a for of its own.
func TestReadRateAt(t *testing.T) {
	s := time.Second
	sch := []ReadPhase{{Rate: 0, For: 2 * s}, {Rate: 20000, For: 2 * s}, {Rate: 500}}
	for _, c := range []struct {
		at   time.Duration
		want uint64
	}{{0, 0}, {1999 * time.Millisecond, 0}, {2 * s, 20000}, {3 * s, 20000}, {4 * s, 500}, {time.Hour, 500}} {
		if got, _ := readPhaseAt(sch, c.at); got != c.want {
			t.Errorf("at %v: %d B/s, want %d", c.at, got, c.want)
		}
	}
	if got, _ := readPhaseAt([]ReadPhase{{Rate: 7, For: s}}, time.Hour); got != 7 {
		t.Errorf("a last phase with a for lasts to the end: %d", got)
	}
}

// TestReadPhaseEnd: a pause for a slow read ends with its phase.
func TestReadPhaseEnd(t *testing.T) {
	s := time.Second
	sch := []ReadPhase{{Rate: 0, For: 2 * s}, {Rate: 20000, For: 2 * s}, {Rate: 500}}
	for _, c := range []struct{ at, want time.Duration }{{0, 2 * s}, {2 * s, 4 * s}, {3 * s, 4 * s}, {4 * s, 0}, {time.Hour, 0}} {
		if _, got := readPhaseAt(sch, c.at); got != c.want {
			t.Errorf("at %v: phase ends %v, want %v", c.at, got, c.want)
		}
	}
}
