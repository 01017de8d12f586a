package report

import (
	"bytes"
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
