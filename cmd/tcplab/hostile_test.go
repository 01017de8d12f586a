package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
)

// runMeasured runs tcplab and returns its result and its peak memory (the
// largest of it and its children, in bytes).
func runMeasured(t *testing.T, args ...string) (result, int64) {
	t.Helper()
	cmd := tcplabCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return r, ru.Maxrss * 1024
}

// TestHostileInputs: malformed, huge and device inputs, used and linked run
// directories and a failing program each exit 2 with file:line:col or a
// named reason, use under 100 MB, and leave nothing behind.
func TestHostileInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	var huge strings.Builder
	huge.WriteString("name: huge\nexpect:\n")
	for huge.Len() < 8<<20 {
		huge.WriteString("  - verdict == network-limited\n")
	}
	var many strings.Builder
	many.WriteString("name: many\nexpect:\n")
	for many.Len() < 1<<20-64 {
		many.WriteString("  - verdict == mixed\n")
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	syscall.Mkfifo(fifo, 0o644)
	used := t.TempDir()
	os.WriteFile(filepath.Join(used, "report.json"), []byte("{}"), 0o644)
	outside := write("outside", "precious")
	linked := t.TempDir()
	os.Symlink(outside, filepath.Join(linked, "report.json"))
	ok := write("ok.yaml", "name: ok\nduration: 1s\n")
	filePos := regexp.MustCompile(`\.yaml:\d+:\d+: `)
	for _, c := range []struct {
		name string
		args []string
		want string // a named reason, or "" for file:line:col
	}{
		{"/dev/zero", []string{"validate", "/dev/zero"}, "not a regular file (a character device)"},
		{"directory", []string{"validate", dir}, "not a regular file (a directory)"},
		{"fifo", []string{"validate", fifo}, "not a regular file (a named pipe)"},
		{"8 MB file", []string{"validate", write("huge.yaml", huge.String())}, "at most 1048576 bytes"},
		{"1 MiB of expect lines", []string{"validate", write("many.yaml", many.String())}, ""},
		{"binary", []string{"validate", write("bin.yaml", "\x00\x01\x02\xff")}, ""},
		{"unclosed", []string{"validate", write("unclosed.yaml", "name: x\nlink: {down: {rate: 1gbit}\nsender: {}\n")}, ""},
		{"deep", []string{"validate", write("deep.yaml", "name: d\nlink: "+strings.Repeat("[", 20000)+"\n")}, ""},
		{"missing program", []string{"validate", write("prog.yaml", "name: p\nreceiver:\n  exec: { command: [./no-such-client] }\n")}, ""},
		{"run: a used directory", []string{"run", ok, "--out", used}, "exists and is not empty"},
		{"run: a directory with a link", []string{"run", ok, "--out", linked}, "exists and is not empty"},
		{"run: --metrics on every interface warns", []string{"run", ok, "--out", used, "--metrics", ":0"}, "serves /metrics without authentication on every interface"},
		{"report: a directory with only a planted link", []string{"report", linked}, "not a run directory"},
		{"run: /dev/zero", []string{"run", "/dev/zero"}, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if slices.Contains(c.args, "--metrics") {
				labtest.RequireRoot(t) // a rootless run refuses --metrics before it warns
			}
			r, rss := runMeasured(t, c.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			if c.want != "" && !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%.500s", c.want, r.stderr)
			}
			if c.want == "" && !filePos.MatchString(r.stderr) {
				t.Errorf("stderr lacks file:line:col:\n%.500s", r.stderr)
			}
			if rss > 100<<20 {
				t.Errorf("peak memory %d MB, want < 100 MB", rss>>20)
			}
		})
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Error("a file outside the run directory changed")
	}
}

// TestFailingProgramCLI: a user's program that exits 3 makes tcplab run
// exit 2 and print who, how and when with its stderr; tcplab report of that
// run exits 2 as well. Before: "completed", VERDICT unknown, exit 0.
func TestFailingProgramCLI(t *testing.T) {
	labtest.RequireRoot(t)
	before := hostLabState()
	f := writeFile(t, "fails.yaml", "name: fails\nduration: 3s\nsender: { listen: true, rate: 1mbit }\nreceiver:\n  exec: { command: [bash, -c, 'exec 3<>/dev/tcp/$TCPLAB_SENDER_ADDR/$TCPLAB_PORT; echo cannot parse config >&2; sleep 0.2; exit 3'] }\n")
	out := filepath.Join(t.TempDir(), "run")
	r, rss := runMeasured(t, "run", "-q", f, "--out", out)
	if r.code != 2 || !strings.Contains(r.stdout, "receiver program exited with status 3 at 0.") || !strings.Contains(r.stdout, "| cannot parse config") || !strings.Contains(r.stderr, "receiver program exited with status 3") {
		t.Errorf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if rss > 100<<20 {
		t.Errorf("peak memory %d MB", rss>>20)
	}
	if rep := runTcplab(t, "report", out); rep.code != 2 || !strings.Contains(rep.stderr, "did not complete (peer_failed)") {
		t.Errorf("report: exit %d\n%s", rep.code, rep.stderr)
	}
	if left := hostLabState().newSince(before); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
