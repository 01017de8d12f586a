package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
)

// nsInode is the inode of a network namespace file (0: none).
func nsInode(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// TestWatchCLI watches a live run from the command line: by the receiving
// peer's process (its namespace through /proc/PID/ns/net), in a plain line
// log when stderr is not a terminal, recording a run directory tcplab
// report renders; SIGINT ends a watch as a normal end; bad flags and a
// target with no connection fail with exit 2 and say why.
func TestWatchCLI(t *testing.T) {
	labtest.RequireRoot(t)
	run, _, id := startRun(t, filepath.Join(t.TempDir(), "run"))
	defer func() {
		run.Process.Signal(os.Interrupt)
		run.Wait()
		assertClean(t, id)
	}()
	snd, rcv := netem.NamespaceName(id, "snd"), netem.NamespaceName(id, "rcv")
	pid := 0
	for _, p := range peerProcesses() {
		if nsInode("/proc/"+strconv.Itoa(p)+"/ns/net") == nsInode("/run/netns/"+rcv) {
			pid = p
		}
	}
	if pid == 0 {
		t.Fatalf("no peer process in %s", rcv)
	}
	dir := filepath.Join(t.TempDir(), "watched")
	r := runTcplab(t, "watch", "--pid", strconv.Itoa(pid), "--for", "3s", "--out", dir, "-o", "json")
	if r.code != 0 {
		t.Fatalf("watch --pid: exit %d\n%s", r.code, r.stderr)
	}
	var sum report.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("watch -o json: %v\n%.500s", err, r.stdout)
	}
	if sum.Verdict.Class != report.ReceiverLimited || sum.Ends != report.EndsReceiving || sum.Meta.Watch == nil ||
		sum.Meta.Watch.PID != pid || sum.Meta.Watch.NetNS != "/proc/"+strconv.Itoa(pid)+"/ns/net" || sum.Meta.Watch.Connections != 1 {
		t.Errorf("watch --pid %d of the 2 MB/s reader: %s from the %s end; watch %+v", pid, sum.Verdict.Text(" — "), sum.Ends, sum.Meta.Watch)
	}
	if !strings.Contains(r.stderr, "conn 0 ") || !strings.Contains(r.stderr, "receiving") || strings.Contains(r.stderr, "\x1b[") {
		t.Errorf("the live log (not a terminal) should be plain lines per connection:\n%s", r.stderr)
	}
	if rr := runTcplab(t, "report", dir); rr.code != 0 || !strings.Contains(rr.stdout, "tcplab watch of pid "+strconv.Itoa(pid)) || !strings.Contains(rr.stdout, "VERDICT: receiver-limited") {
		t.Errorf("tcplab report of the watch: exit %d\n%s%s", rr.code, rr.stdout, rr.stderr)
	}

	// SIGINT ends a watch: a normal end, its run directory written.
	dir2 := filepath.Join(t.TempDir(), "interrupted")
	w := tcplabCmd("watch", "--netns", snd, "--out", dir2, "-q")
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	w.Process.Signal(os.Interrupt)
	if err := w.Wait(); err != nil {
		t.Errorf("watch ended by SIGINT: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir2, record.FileText)); err != nil || !strings.Contains(string(b), "stopped by the watcher") || !strings.Contains(string(b), "VERDICT: receiver-limited") {
		t.Errorf("report.txt of an interrupted watch: %v\n%.800s", err, b)
	}

	noneDir := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--netns", "tcplab-nosuch-rcv"}, "tcplab-nosuch-rcv"},
		{[]string{"--pid", "2147483647"}, "no such process"},
		{[]string{"--addr", "10.0.0.300"}, "--addr \"10.0.0.300\": an address or a prefix"},
		{[]string{"--port", "70000"}, "--port 70000"},
		{[]string{"--interval", "100ms", "--window", "150ms"}, "--window 150ms: at least two sampling intervals"},
		{[]string{"--netns", snd, "--port", "1", "--for", "1s", "--out", noneDir}, "no connection matched netns " + snd + ", port 1"},
	} {
		if r := runTcplab(t, append([]string{"watch", "-q"}, c.args...)...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("watch %v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Lstat(noneDir); err == nil {
		t.Errorf("a watch that matched nothing left its run directory behind")
	}
}

// TestRecordedExit: a recorded run or watch exits 0 only when it completed
// and passed; one whose samples were too thin to judge (trust distorted)
// exits 1 and says so, one that did not complete exits 2.
func TestRecordedExit(t *testing.T) {
	code := func(err error) ExitCode {
		var e *exitError
		if errors.As(err, &e) {
			return e.code
		}
		return ExitOK
	}
	ok := report.Summary{Meta: record.Meta{Stopped: "watched for 5s", End: record.EndCompleted}, Trust: &report.Trust{Level: report.TrustOK}}
	if err := recordedExit(&ok); err != nil {
		t.Errorf("a completed watch: %v", err)
	}
	thin := ok
	thin.Trust = &report.Trust{Level: report.TrustDistorted}
	if err := recordedExit(&thin); code(err) != ExitExpectFailed || !strings.Contains(err.Error(), "distorted") {
		t.Errorf("samples too thin to judge: %v (exit %d)", err, code(err))
	}
	failed := ok
	failed.Meta.End, failed.Meta.Stopped = record.EndFailed, "sample netns x: EPERM"
	if err := recordedExit(&failed); code(err) != ExitSetup || !strings.Contains(err.Error(), "did not complete (failed)") {
		t.Errorf("a watch that failed: %v (exit %d)", err, code(err))
	}
}
