package lab

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/record"
)

// recordedRun copies testdata/recorded-run (a real 4 s run: three clients,
// one slow and reset twice, a reconnect, a lossy spell on the userspace
// link) into a fresh directory, samples unpacked.
func recordedRun(t *testing.T) string {
	t.Helper()
	src := filepath.Join("testdata", "recorded-run")
	dir := t.TempDir()
	for _, f := range []string{record.FileScenario, record.FileMeta, record.FileEvents} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zf, err := os.Open(filepath.Join(src, record.FileSamples+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, record.FileSamples), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRerenderRecordedRun: rendering a recorded run again (no root, no
// network) reproduces the report.json the run wrote, byte for byte, and
// every other format matches its golden file (go test -update rewrites them).
func TestRerenderRecordedRun(t *testing.T) {
	dir := recordedRun(t)
	res, err := Rerender(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, record.FileReport))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "recorded-run", record.FileReport))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("re-rendered report.json differs from the one the run wrote (%d vs %d bytes)", len(got), len(want))
	}
	if res.Summary.Passed() || len(res.Summary.Expectations) != 4 {
		t.Errorf("the recorded run has 4 expectations, one failing: %+v", res.Summary.Expectations)
	}
	for _, f := range []string{record.FileText, record.FileMarkdown, record.FileJUnit, record.FileHTML} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "recorded-run", "golden", f)
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./lab -run TestRerenderRecordedRun -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (go test -update rewrites it after a deliberate change)", f, golden)
		}
	}
	// The JUnit file is well-formed: one suite, a case per expectation, one failure.
	var ju struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, record.FileJUnit))
	if err := xml.Unmarshal(b, &ju); err != nil || ju.Tests != 4 || ju.Failures != 1 || len(ju.Suites) != 1 {
		t.Errorf("junit.xml: %+v %v", ju, err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, record.FileMarkdown))
	if !strings.Contains(string(md), "❌ | `lag.p99 < 1ms`") {
		t.Errorf("summary.md does not show the failing expectation as written:\n%s", md)
	}
}
