package report

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
)

// TestHTMLEscapes: every text of the page goes through html/template: a
// hostile scenario name, expectation or timeline line is shown, not run.
func TestHTMLEscapes(t *testing.T) {
	samples, events := labtest.ReadRecorded(t, filepath.Join("testdata", "receiver-limited-cubic"))
	events = append(events, record.Event{T: 1e9, Side: record.SideLink, Kind: record.EventTimeline, Detail: `timeline[0] start: <img src=x onerror=alert(2)>`,
		Step: &record.TimelineStep{Entry: 0, Start: true, Change: record.ChangePartition}})
	sum := Build(record.Meta{Scenario: `<script>alert(1)</script>`, RunID: `"><svg onload=alert(3)>`, DurationS: 3, WindowS: 0.25, Stopped: "completed",
		Link: &record.LinkRecord{Backend: "userspace"}}, samples, events, 250e6)
	sum.Expectations = []ExpectResult{{Expect: `verdict == <b>mixed</b>`, Actual: "x"}}
	var page bytes.Buffer
	if err := WriteHTML(&page, &sum); err != nil {
		t.Fatal(err)
	}
	out := page.String()
	for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "<b>mixed", "ZgotmplZ"} {
		if strings.Contains(out, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "&lt;b&gt;mixed&lt;/b&gt;"} {
		if !strings.Contains(out, good) {
			t.Errorf("the page lacks %q", good)
		}
	}
	// The partition's span is shaded as a cut path, from the typed step.
	if !strings.Contains(out, `fill="#fecaca"`) {
		t.Errorf("a partition's span is not shaded as one")
	}
}

// TestFormatsTable: every run report file has one renderer of the one
// signature, and each renders the same Summary.
func TestFormatsTable(t *testing.T) {
	samples, events := labtest.ReadRecorded(t, filepath.Join("testdata", "network-limited-cubic"))
	sum := Build(record.Meta{Scenario: "f", DurationS: 3, WindowS: 0.25, Stopped: "completed", End: record.EndCompleted, Link: &record.LinkRecord{Backend: "netem"}}, samples, events, 250e6)
	files, err := RenderAll(&sum)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{record.FileReport, record.FileText, record.FileMarkdown, record.FileJUnit, record.FileHTML}
	if len(files) != len(want) {
		t.Fatalf("%d files rendered, want %d", len(files), len(want))
	}
	for i, f := range files {
		if f.File != want[i] || len(f.Data) == 0 || !bytes.Contains(f.Data, []byte("network-limited")) {
			t.Errorf("%s: %d bytes, want %s naming the verdict", f.File, len(f.Data), want[i])
		}
	}
}

// TestThroughputSweepHTML: sweep.html of a sweep without a failure event
// charts goodput across the first matrix key, one line per setting of the
// others, on a log scale when the goodputs span orders of magnitude, with
// each point's trust drawn; the table carries verdict, goodput, base RTT
// and trust (it showed "never" bars before).
func TestThroughputSweepHTML(t *testing.T) {
	r := &SweepReport{Scenario: "tp <x>", Keys: []string{"link.both.loss", "sender.socket.congestion"}, Parallel: 2}
	trust := map[int]TrustLevel{1: TrustDoubtful, 2: TrustDistorted}
	for i, loss := range []string{"0%", "1%", "2%"} {
		for k, cc := range []string{"cubic", "bbr"} {
			n := len(r.Points)
			good := 2000e6 / float64(1+100*i*(1-k)) // cubic falls with loss, bbr does not
			r.Points = append(r.Points, SweepRow{ID: fmt.Sprintf("p%02d", n), Values: []string{loss, cc}, Verdict: NetworkLimited,
				Path: &PathMeasured{GoodputBits: good, MinRTTMs: 10}, Trust: trust[n], Passed: trust[n] != TrustDistorted})
		}
	}
	var b strings.Builder
	if err := WriteSweepHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`data-chart="goodput"`, "Goodput across link.both.loss", "Mbit/s (log)", "congestion=cubic", "congestion=bbr",
		"tp &lt;x&gt;", "<td>1%</td>", "2000.00 Mbit/s", "stroke=\"#cf222e\"", "stroke=\"#bf8700\""} {
		if !strings.Contains(page, want) {
			t.Errorf("sweep.html lacks %q", want)
		}
	}
	if n := strings.Count(page, `<path class="series"`); n != 2 {
		t.Errorf("%d lines, want 2 (cubic, bbr)", n)
	}
	if n := strings.Count(page, "<circle"); n != 5 { // the distorted point is a cross
		t.Errorf("%d dots, want 5", n)
	}
	if strings.Contains(page, "never") {
		t.Error("a throughput sweep's page speaks of detection")
	}
}
