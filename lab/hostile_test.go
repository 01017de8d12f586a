package lab

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/scenario"
)

// snapshot reads every file of dir (names → contents) for comparison.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			out[e.Name()] = string(b)
		}
	}
	return out
}

// TestRerenderRefusesLinks: tcplab report DIR with a link planted under
// every name a run writes or reads refuses it (no write anywhere through
// it), and the file outside is unchanged. Before: report.json written
// through the link.
func TestRerenderRefusesLinks(t *testing.T) {
	names := []string{record.FileScenario, record.FileMeta, record.FileSamples, record.FileEvents, record.FileReport, record.FileText, record.FileMarkdown, record.FileJUnit, record.FileHTML}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := recordedRun(t)
			outside := filepath.Join(t.TempDir(), "precious")
			orig, _ := os.ReadFile(filepath.Join(dir, name))
			if len(orig) == 0 {
				orig = []byte("precious\n")
			}
			os.WriteFile(outside, orig, 0o644)
			os.Remove(filepath.Join(dir, name))
			if err := os.Symlink(outside, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := Rerender(dir)
			if err == nil {
				t.Fatalf("a link as %s was accepted", name)
			}
			if !errors.Is(err, record.ErrSymlink) {
				t.Errorf("error does not name the link: %v", err)
			}
			if b, _ := os.ReadFile(outside); string(b) != string(orig) {
				t.Errorf("the file outside the run directory changed")
			}
			if fi, err := os.Lstat(filepath.Join(dir, name)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link itself was replaced: %v", err)
			}
		})
	}
	// The run directory itself a link.
	dir := recordedRun(t)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if _, err := Rerender(link); !errors.Is(err, record.ErrSymlink) {
		t.Errorf("a run directory that is a link: %v", err)
	}
}

// TestRunRefusesUsedDirectory: --out must name a new or empty directory
// (not a link): a directory holding a link planted for each name a run
// writes is refused before anything runs, and nothing outside changes.
func TestRunRefusesUsedDirectory(t *testing.T) {
	s, err := scenario.Parse("q.yaml", []byte("name: q\nduration: 1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(outside, []byte("precious"), 0o644)
	dir := t.TempDir()
	for _, name := range []string{record.FileScenario, record.FileMeta, record.FileSamples, record.FileEvents, record.FileReport, record.FileText, record.FileMarkdown, record.FileJUnit, record.FileHTML, record.FilePcap, "sender.log", "receiver.log", "sender.stdout", "sender.stderr", "receiver.stdout", "receiver.stderr"} {
		os.Symlink(outside, filepath.Join(dir, name))
	}
	if os.Geteuid() != 0 {
		t.Skip("Run refuses a non-root user before it looks at the directory")
	}
	_, err = Run(context.Background(), s, RunOptions{OutDir: dir})
	if !errors.Is(err, ErrSetup) || !errors.Is(err, record.ErrNotEmpty) {
		t.Errorf("a used run directory: %v", err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Errorf("the file outside changed: %q", b)
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(t.TempDir(), link)
	if _, err = Run(context.Background(), s, RunOptions{OutDir: link}); !errors.Is(err, record.ErrSymlink) {
		t.Errorf("--out a link to an empty directory: %v", err)
	}
}

// TestRerenderNeverWorse: with samples.jsonl or events.jsonl missing, empty
// or holding a line past the limit, tcplab report says so (ErrNoData or the
// file and line) and leaves every report as it was. Before: a good
// report.json became VERDICT: unknown.
func TestRerenderNeverWorse(t *testing.T) {
	for _, c := range []struct {
		name, file string
		content    *string
		want       string
	}{
		{"samples missing", record.FileSamples, nil, "samples.jsonl is missing"},
		{"samples empty", record.FileSamples, ptr(""), "holds no samples"},
		{"events missing", record.FileEvents, nil, "events.jsonl is missing"},
		{"samples line too long", record.FileSamples, ptr(strings.Repeat("x", record.MaxLine+10) + "\n"), "samples.jsonl:1: line longer than"},
		{"samples garbage", record.FileSamples, ptr("{\"t\": 1}\nnot json\n"), "samples.jsonl:2:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := recordedRun(t)
			if _, err := Rerender(dir); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			if c.content == nil {
				os.Remove(filepath.Join(dir, c.file))
			} else {
				os.WriteFile(filepath.Join(dir, c.file), []byte(*c.content), 0o644)
			}
			_, err := Rerender(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "left as they are") {
				t.Fatalf("err = %v, want %q and that the reports are left alone", err, c.want)
			}
			after := snapshot(t, dir)
			for _, f := range []string{record.FileReport, record.FileText, record.FileMarkdown, record.FileJUnit, record.FileHTML} {
				if before[f] == "" || after[f] != before[f] {
					t.Errorf("%s changed", f)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestKilledRunReported: a run killed before its end (meta.json as written
// at the start, no end record) renders as killed with what it recorded, and
// does not pass. Before: no meta.json, no report at all.
func TestKilledRunReported(t *testing.T) {
	dir := recordedRun(t)
	b, _ := os.ReadFile(filepath.Join(dir, record.FileMeta))
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	delete(meta, "stopped")
	delete(meta, "end")
	b, _ = json.Marshal(meta)
	os.WriteFile(filepath.Join(dir, record.FileMeta), b, 0o644)
	res, err := Rerender(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Summary.Meta
	if m.EndKind() != record.EndKilled || res.Summary.Passed() || !strings.HasPrefix(m.StoppedText(), "killed (no end record)") {
		t.Errorf("end %s, passed %v, stopped %q", m.EndKind(), res.Summary.Passed(), m.StoppedText())
	}
	txt, _ := os.ReadFile(filepath.Join(dir, record.FileText))
	if !strings.Contains(string(txt), "killed (no end record)") || !strings.Contains(string(txt), "RUN DID NOT COMPLETE (killed)") {
		t.Errorf("report.txt:\n%.600s", txt)
	}
	if res.Summary.Verdict.Class == "" || len(res.Summary.Windows) == 0 {
		t.Error("what was recorded is not judged")
	}
}

// TestInputLimits: devices, FIFOs, directories and files over 1 MiB are
// refused without being read; lists past their bound and files with
// thousands of problems give a bounded error.
func TestInputLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte(strings.Repeat("# padding\n", scenario.MaxFileSize/10+1)), 0o644)
	for _, c := range []struct{ file, want string }{
		{"/dev/zero", "not a regular file (a character device)"},
		{"/dev/null", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
		{big, "a scenario file is at most 1048576 bytes"},
	} {
		if _, err := scenario.Load(c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.file, err, c.want)
		}
		if _, err := scenario.LoadSweep(c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sweep %s: %v, want %q", c.file, err, c.want)
		}
	}
	var sb strings.Builder
	sb.WriteString("name: many\nexpect:\n")
	for range 300 {
		sb.WriteString("  - verdict == network-limited\n")
	}
	if _, err := scenario.Parse("many.yaml", []byte(sb.String())); err == nil || !strings.Contains(err.Error(), "many.yaml:3:3: expect: 300 entries; a scenario's expect list holds at most 256") {
		t.Errorf("300 expectations: %v", err)
	}
	sb.Reset()
	sb.WriteString("name: bad\nreceiver:\n  stalls:\n")
	for range 900 {
		sb.WriteString("  - { at: x, for: y }\n")
	}
	_, err := scenario.Parse("bad.yaml", []byte(sb.String()))
	var es scenario.Errors
	if !errors.As(err, &es) || len(es) != scenario.MaxErrors+1 || !strings.Contains(es[scenario.MaxErrors].Msg, "more problems") {
		t.Errorf("1800 problems: %d errors", len(es))
	}
}
