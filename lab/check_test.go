package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// TestExpectationErrors: a bad expectation is refused before a run, with
// the file:line:col of its entry, the field and what is accepted.
func TestExpectationErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		where      string // "line:col"
		want       []string
	}{
		{"bad expectation", "expect:\n  - verdict == slow\n", "2:5", []string{"expect[0]", "unknown verdict", "receiver-limited"}},
		{"expectation subject", "expect:\n  - lag.p98 < 2s\n", "2:5", []string{"expect[0]", "unknown subject", "lag.p99", "client(N).resets"}},
		{"expectation unit", "expect:\n  - lag.p99 < 2\n", "2:5", []string{"expect[0]", "unit"}},
		{"expectation operator", "expect:\n  - verdict < mixed\n", "2:5", []string{"expect[0]", "accepted for verdict: == !="}},
		{"expectation count", "expect:\n  - messages.lost == 1.5\n", "2:5", []string{"expect[0]", "not a count"}},
		{"second entry", "expect:\n  - verdict == mixed\n  - client(5000).resets == 0\n", "3:5", []string{"expect[1]", "outside 0..4999"}},
		{"condition without matrix", "expect:\n  - verdict == mixed if link.down.loss=1%\n", "2:5", []string{"expect[0]", "no matrix"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			sw, err := scenario.LoadSweep(file)
			if err != nil {
				t.Fatalf("the file itself is fine, but: %v", err)
			}
			err = CheckSweep(sw)
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			msg := err.Error()
			if prefix := file + ":" + c.where + ": "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("error does not start with %q:\n%s", prefix, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if _, err := Run(t.Context(), sw.Points[0].Scenario, RunOptions{OutDir: filepath.Join(dir, c.name+"-run")}); err == nil || !strings.Contains(err.Error(), "expect[") {
				t.Errorf("Run started a scenario with a bad expectation: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, c.name+"-run")); !os.IsNotExist(err) {
				t.Errorf("Run left a directory for a scenario it refused: %v", err)
			}
		})
	}
}

// TestExpectTimelineEntry: timeline[N].verdict takes the entry's span from
// the scenario, and an entry that does not exist is refused before the run.
func TestExpectTimelineEntry(t *testing.T) {
	src := "duration: 10s\ntimeline:\n  - { at: 2s, for: 3s, partition: down }\n  - { at: 6s, link: { down: { loss: 1% } } }\nexpect:\n  - timeline[0].verdict == network-limited\n  - timeline[1].verdict == network-limited\n"
	s, err := scenario.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	exps, err := Expectations(s)
	if err != nil {
		t.Fatal(err)
	}
	if e := exps[0]; e.From != 2 || e.To != 5 {
		t.Errorf("timeline[0] span %v..%v, want 2..5", e.From, e.To)
	}
	if e := exps[1]; e.From != 6 || e.To != 10 {
		t.Errorf("timeline[1] span %v..%v, want 6..10 (to the end)", e.From, e.To)
	}
	sum := &report.Summary{Windows: []report.Window{{Start: 2, End: 3, Class: "network-limited"}, {Start: 3, End: 5, Class: "network-limited"}, {Start: 6, End: 7, Class: "sender-limited"}}}
	if r := exps[0].Check(sum); !r.Holds {
		t.Errorf("timeline[0]: %+v", r)
	}
	if r := exps[1].Check(sum); r.Holds || r.Actual != "sender-limited" {
		t.Errorf("timeline[1]: %+v", r)
	}
	s, err = scenario.Parse("t.yaml", []byte("timeline:\n  - { at: 2s, partition: down }\nexpect:\n  - timeline[3].verdict == mixed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(s); err == nil || !strings.Contains(err.Error(), "timeline[0]..timeline[0]") || !strings.HasPrefix(err.Error(), "t.yaml:4:5: expect[0]") {
		t.Errorf("an entry that does not exist: %v", err)
	}
}

// TestVocabulariesAgree: where the file format and the judges each keep a
// vocabulary (scenario cannot import record), the two are the same.
func TestVocabulariesAgree(t *testing.T) {
	var judged []string
	for _, e := range record.NATExpiries {
		judged = append(judged, string(e))
	}
	if !slices.Equal(judged, scenario.NATExpired) {
		t.Errorf("record.NATExpiries %q, scenario.NATExpired %q", judged, scenario.NATExpired)
	}
	if report.MaxClientIndex != scenario.MaxClients {
		t.Errorf("report bounds client(N) at %d, a scenario at %d clients", report.MaxClientIndex, scenario.MaxClients)
	}
	backends := []string{"auto"}
	for _, b := range netem.Backends {
		backends = append(backends, string(b))
	}
	if !slices.Equal(backends, scenario.Backends) {
		t.Errorf("link.backend accepts %q; auto and netem.Backends are %q", scenario.Backends, backends)
	}
}

// TestMinMessageSize: the file format's smallest message is the peers'
// header.
func TestMinMessageSize(t *testing.T) {
	if scenario.MinMessageSize != peers.MinMessageSize {
		t.Errorf("scenario.MinMessageSize %d, peers.MinMessageSize %d", scenario.MinMessageSize, peers.MinMessageSize)
	}
}
