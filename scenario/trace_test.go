package scenario

import (
	"strings"
	"testing"
	"time"
)

// TestChangesCSV: a CSV of timed changes in link.down.trace becomes
// timeline entries of the down direction, each lasting to the next row,
// an empty cell keeping the value before; a mahimahi trace becomes the
// direction's TraceData; bad rows are refused with their line.
func TestChangesCSV(t *testing.T) {
	src := `name: csv
duration: 10s
link:
  down:
    trace: |
      # a comment line
      time, rate, delay, loss
      0s, 10mbit, 20ms, 0%
      3s, 2mbit, , 1%
      6s, , 80ms, 100%
`
	s, err := Parse("csv.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Timeline) != 3 {
		t.Fatalf("%d timeline entries, want 3: %+v", len(s.Timeline), s.Timeline)
	}
	e := s.Timeline[1]
	if time.Duration(e.At) != 3*time.Second || e.For == nil || time.Duration(*e.For) != 3*time.Second || e.Link == nil || e.Link.Down == nil {
		t.Fatalf("entry 1: %+v", e)
	}
	if d := e.Link.Down; d.Rate == nil || uint64(*d.Rate) != 2e6 || d.Delay != nil || d.Loss == nil || *d.Loss != 1 {
		t.Errorf("entry 1's change: %v", d)
	}
	if last := s.Timeline[2]; last.For != nil || *last.Link.Down.Loss != 100 {
		t.Errorf("last entry: %+v", last)
	}
	// A base rate beside a CSV of changes holds until a row changes it.
	based, err := Parse("based.yaml", []byte("name: based\nduration: 5s\nlink:\n  down:\n    rate: 20mbit\n    trace: |\n      time,rate\n      2s,2mbit\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r0, r1 := based.LinkAt(nil).Link.Down.Rate, based.LinkAt([]int{0}).Link.Down.Rate; len(based.Timeline) != 1 || r0 == nil || *r0 != 20e6 || r1 == nil || *r1 != 2e6 {
		t.Errorf("a base rate and a CSV of changes: %d entries, rate %v then %v", len(based.Timeline), r0, r1)
	}
	mm, err := Parse("mm.yaml", []byte("name: mm\nlink:\n  up:\n    trace: |\n      1\n      1\n      5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tr := mm.Link.Up.TraceData; tr == nil || len(tr.At) != 3 || tr.Period != int64(5*time.Millisecond) {
		t.Fatalf("mahimahi trace: %+v", mm.Link.Up.TraceData)
	}
	if _, up := mm.Link.Impairments(); up.Trace == nil {
		t.Error("the up direction's impairment has no trace")
	}
	for _, c := range []struct{ rows, want string }{
		{"time,speed\n0s,1\n", "column \"speed\": accepted: time, rate, delay, jitter, loss"},
		{"rate,time\n1mbit,0s\n", "the header's first column is time"},
		{"time,rate\n2s,1mbit\n1s,2mbit\n", "inline trace:3: time 1s must come after the row before"},
		{"time,rate\n0s,fast\n", "inline trace:2: rate \"fast\""},
		{"time,loss\n0s,150%\n", "inline trace:2: loss \"150%\""},
		{"time,rate\n20s,1mbit\n", "below duration"},
		{"time,rate\n", "at least one row"},
	} {
		var b strings.Builder
		b.WriteString("name: bad\nduration: 10s\nlink:\n  down:\n    trace: |\n")
		for _, l := range strings.Split(strings.TrimSuffix(c.rows, "\n"), "\n") {
			b.WriteString("      " + l + "\n")
		}
		_, err := Parse("bad.yaml", []byte(b.String()))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "link.down.trace") {
			t.Errorf("%q: %v, want %q", c.rows, err, c.want)
		}
	}
}
