package scenario

import (
	"strings"
	"testing"
	"time"
)

const sweepSrc = `name: ka
duration: 10s
sender: { listen: true }
receiver:
  vanish: 2s
  socket:
    keepalive: { idle: 1s, interval: 1s, count: 3 }
timeline:
  - { at: 1s, partition: down }
matrix:
  receiver.socket.keepalive.count: [3, 5]
  sender.socket.user_timeout: [2s, 4s, 6s]
  timeline[0].partition: [down, both]
`

// TestMatrixExpands: a 2 × 3 × 2 matrix gives 12 points, each a validated
// scenario with its values set, named after the point, last key fastest.
func TestMatrixExpands(t *testing.T) {
	sw, err := ParseSweep("ka.yaml", []byte(sweepSrc))
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Points) != 12 || len(sw.Keys) != 3 {
		t.Fatalf("%d points over %v", len(sw.Points), sw.Keys)
	}
	p := sw.Points[7] // count index 1 (5), user_timeout index 0 (2s)… 7 = 1*6 + 0*2 + 1
	s := p.Scenario
	if s.Name != "ka-p07" || s.Receiver.Socket.Keepalive.Count != 5 || time.Duration(*s.Sender.Socket.UserTimeout) != 2*time.Second || s.Timeline[0].Partition != "both" {
		t.Errorf("point 7: name %s count %d user_timeout %v partition %s", s.Name, s.Receiver.Socket.Keepalive.Count, *s.Sender.Socket.UserTimeout, s.Timeline[0].Partition)
	}
	if got := p.Label(sw.Keys); got != "receiver.socket.keepalive.count=5 sender.socket.user_timeout=2s timeline[0].partition=both" {
		t.Errorf("label %q", got)
	}
	// The other points are untouched by point 7's values.
	if sw.Points[0].Scenario.Receiver.Socket.Keepalive.Count != 3 || sw.Points[0].Scenario.Timeline[0].Partition != "down" {
		t.Errorf("point 0 shares values with point 7")
	}
	// A plain file is a sweep of one point; Parse refuses a matrix.
	one, err := ParseSweep("q.yaml", []byte("duration: 2s\n"))
	if err != nil || len(one.Points) != 1 {
		t.Fatalf("plain file: %v %v", one, err)
	}
	if _, err := Parse("ka.yaml", []byte(sweepSrc)); err == nil || !strings.Contains(err.Error(), "sweep") {
		t.Errorf("Parse on a sweep: %v", err)
	}
}

func TestMatrixErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"bad value", "matrix:\n  sender.socket.user_timeout: [2s, soon]\n", "matrix point p01 (sender.socket.user_timeout=soon)"},
		{"value position", "matrix:\n  sender.socket.user_timeout: [2s, soon]\n", "ka.yaml:3:36"},
		{"unknown field", "matrix:\n  receiver.socket.keepalives.idle: [1s]\n", "keepalives"},
		{"no list", "matrix:\n  timeline[2].partition: [both]\n", "no list timeline"},
		{"no such entry", "timeline: [ { at: 1s, partition: up } ]\nmatrix:\n  timeline[2].partition: [both]\n", "no list entry [2]"},
		{"not a list", "matrix:\n  sender.port: 5000\n", "non-empty list"},
		{"bad path", "matrix:\n  sender..port: [1]\n", "not a field path"},
		{"too many", "matrix:\n  sender.port: [" + strings.Repeat("1,", 40) + "1]\n  receiver.read.size: [" + strings.Repeat("1KiB,", 40) + "1KiB]\n", "more than 1024 points"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSweep("ka.yaml", []byte("duration: 4s\n"+c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestMatrixConditionalExpect: an expect entry with "if KEY=VALUE" holds at
// the points where the matrix key has that value, without its condition;
// conditions naming no matrix key or none of its values are errors with
// the entry's position (a file without a matrix refuses them: lab's
// TestExpectationErrors).
func TestMatrixConditionalExpect(t *testing.T) {
	src := `duration: 4s
matrix:
  receiver.port: [5001, 5002]
  receiver.read.size: [1KiB, 4KiB]
expect:
  - messages.lost == 0
  - disconnects == 0 if receiver.port=5001
  - resets == 0 if receiver.port=5002, receiver.read.size=4KiB
`
	sw, err := ParseSweep("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range sw.Points {
		var srcs []string
		for _, e := range p.Scenario.Expect {
			srcs = append(srcs, e.Source)
		}
		got = append(got, strings.Join(srcs, "; "))
	}
	want := []string{
		"messages.lost == 0; disconnects == 0",
		"messages.lost == 0; disconnects == 0",
		"messages.lost == 0",
		"messages.lost == 0; resets == 0",
	}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("expectations per point:\n%q\nwant\n%q", got, want)
	}
	for _, c := range []struct{ cond, want string }{
		{"receiver.prt=5001", `c.yaml:7:5: expect[1]: condition key "receiver.prt" is not a matrix key; the matrix's keys: receiver.port, receiver.read.size`},
		{"receiver.port=6000", "c.yaml:7:5: expect[1]: condition receiver.port=6000: the matrix gives receiver.port the values 5001, 5002"},
		{"receiver.port", "cannot read condition"},
	} {
		_, err := ParseSweep("c.yaml", []byte(strings.Replace(src, "receiver.port=5001", c.cond, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("condition %q: error %v, want %q", c.cond, err, c.want)
		}
	}
}
