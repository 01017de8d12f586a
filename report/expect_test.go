package report

import (
	"testing"

	"github.com/tcplab/tcplab/record"
)

// TestExpectCheck evaluates every kind of subject on a made-up summary.
func TestExpectCheck(t *testing.T) {
	sum := &Summary{
		Verdict:  Verdict{Class: "receiver-limited", ClassShares: map[Class]float64{"receiver-limited": 0.75, "mixed": 0.25}},
		Messages: Accounting{Sent: 100, Delivered: 90, Lost: 3, Resets: 1, Reconnects: 2, Connections: 4, LagP99Ms: 1500},
		Connections: []Connection{
			{Conn: 0, Client: 0, Verdict: "receiver-limited", Reset: true, Receiver: &record.Stats{Messages: 40, Lost: 3}},
			{Conn: 1, Client: 1, Verdict: "sender-limited", Receiver: &record.Stats{Messages: 50}},
			{Conn: 2, Client: 0, Verdict: "sender-limited"},
		},
		Disconnects: []Disconnect{{Conn: 0, Client: 0, Side: "sender"}, {Conn: 0, Client: 0, Side: "receiver"}},
	}
	for _, c := range []struct {
		src    string
		holds  bool
		actual string
	}{
		{"verdict == receiver-limited", true, "receiver-limited"},
		{"verdict != receiver-limited", false, "receiver-limited"},
		{"messages.lost == 3", true, "3"},
		{"messages.lost < 3", false, "3"},
		{"messages.sent >= 100", true, "100"},
		{"lag.p99 < 2s", true, "1.5s"},
		{"lag.p99 <= 1s", false, "1.5s"},
		{"receiver_limited >= 75%", true, "75.0%"},
		{"receiver_limited > 75%", false, "75.0%"},
		{"disconnects == 1", true, "1"},
		{"resets == 1", true, "1"},
		{"client(0).resets == 1", true, "1"},
		{"client(1).resets == 0", true, "0"},
		{"client(0).verdict == receiver-limited", true, "receiver-limited"},
		{"client(1).verdict == receiver-limited", false, "sender-limited"},
		{"client(0).connections == 2", true, "2"},
		{"client(0).lost == 3", true, "3"},
		{"client(1).disconnects == 0", true, "0"},
		{"client(7).verdict == mixed", false, "unknown"},
	} {
		e, err := ParseExpect(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		r := e.Check(sum)
		if r.Holds != c.holds || r.Actual != c.actual {
			t.Errorf("%s: holds %v actual %q, want %v %q", c.src, r.Holds, r.Actual, c.holds, c.actual)
		}
	}
}

func TestExpectPhaseAndSize(t *testing.T) {
	sum := &Summary{
		Windows:     []Window{{Start: 0, End: 1, Class: "sender-limited"}, {Start: 1, End: 2, Class: "receiver-limited"}, {Start: 2, End: 3, Class: "receiver-limited"}},
		Connections: []Connection{{Client: 1, Sender: &record.Stats{MaxBacklog: 300 << 10}}},
	}
	for _, c := range []struct {
		src    string
		holds  bool
		actual string
	}{
		{"phase(1s..3s).verdict == receiver-limited", true, "receiver-limited"},
		{"phase(0s..3s).verdict == receiver-limited", true, "receiver-limited"},
		{"phase(0s..2s).verdict == receiver-limited", false, "mixed"},
		{"phase(5s..6s).verdict == mixed", false, "unknown"},
		{"client(1).max_backlog < 256KiB", false, "300KiB"},
		{"client(1).max_backlog >= 256KiB", true, "300KiB"},
	} {
		e, err := ParseExpect(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if r := e.Check(sum); r.Holds != c.holds || r.Actual != c.actual {
			t.Errorf("%s: holds %v actual %q, want %v %q", c.src, r.Holds, r.Actual, c.holds, c.actual)
		}
	}
	if _, err := ParseExpect("phase(3s..1s).verdict == mixed"); err == nil {
		t.Error("a phase ending before it starts was accepted")
	}
}

func TestExpectPathAndDetection(t *testing.T) {
	sum := &Summary{
		Path:        PathMeasured{MinRTTMs: 50.2, SRTTMs: 61, RetransRate: 0.004},
		Disconnects: []Disconnect{{Side: "sender", DetectionS: 2.3}},
	}
	for _, c := range []struct {
		src    string
		holds  bool
		actual string
	}{
		{"rtt.min <= 51ms", true, "50.2ms"},
		{"rtt.srtt < 60ms", false, "61ms"},
		{"retrans_rate < 1%", true, "0.4%"},
		{"detection.sender < 3s", true, "2.3s"},
		{"detection.receiver < 3s", false, "none (no such disconnect)"},
	} {
		e, err := ParseExpect(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if r := e.Check(sum); r.Holds != c.holds || r.Actual != c.actual {
			t.Errorf("%s: holds %v actual %q, want %v %q", c.src, r.Holds, r.Actual, c.holds, c.actual)
		}
	}
}

// FuzzParseExpect: no expectation text makes the parser panic, and what
// it accepts is judged on an empty summary without panicking.
func FuzzParseExpect(f *testing.F) {
	for _, s := range []string{"verdict == receiver-limited", "messages.lost == 0", "lag.p99 < 2s", "receiver_limited >= 60%",
		"client(0).resets == 1", "client(1).max_backlog < 256KiB", "phase(30s..35s).verdict == mixed", "timeline[0].verdict != mixed",
		"detection.sender < 10s", "retrans_rate < 1%", "disconnects == 0 if a=b", "client(99999999999999999999).lost == 0", "phase(2s..1s).verdict == mixed"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpect(s)
		if err != nil {
			return
		}
		if e.Source == "" || e.Subject == "" {
			t.Fatalf("accepted %q as %+v", s, e)
		}
		_ = e.Check(&Summary{})
	})
}
