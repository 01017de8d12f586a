package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
)

// TestFailedProgramFailsRun: a user's program that exits non-zero, exits
// early without saying it would, or is killed by someone else fails the run
// (ErrPeerFailed, end peer_failed, the failure with its stderr in meta and
// the text report, Passed false); one that says it ends by itself and exits
// 0 does not. Before: "completed", exit 0.
func TestFailedProgramFailsRun(t *testing.T) {
	labtest.RequireRoot(t)
	for _, c := range []struct {
		name, script, exits string
		how                 record.PeerExit
		status              int
		signal              string
	}{
		{"status 3", `echo "bad config: $u" >&2; sleep 0.2; exit 3`, "", record.ExitStatus, 3, ""},
		{"status 0 early", `sleep 0.3; exit 0`, "", record.ExitEarly, 0, ""},
		{"status 0 expected", `head -c 20000 <&3 >/dev/null; exit 0`, "expected", "", 0, ""},
		{"status 5 expected", `sleep 0.3; echo oops >&2; exit 5`, "expected", record.ExitStatus, 5, ""},
		{"killed by someone else", `sleep 0.3; kill -KILL $$`, "", record.ExitSignal, 0, "SIGKILL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			exits := ""
			if c.exits != "" {
				exits = ", exits: " + c.exits
			}
			// The built-in sender listens; the user's program connects,
			// then does what the case says.
			src := "name: fails\nduration: 2s\nsender: { listen: true, rate: 2mbit }\nreceiver:\n  exec: { command: [bash, -c, 'exec 3<>/dev/tcp/$TCPLAB_SENDER_ADDR/$TCPLAB_PORT; " + c.script + "']" + exits + " }\n"
			s, err := scenario.Parse("fails.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			t0 := time.Now()
			res, err := Run(context.Background(), s, RunOptions{OutDir: dir})
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			m := res.Summary.Meta
			if c.how == "" {
				if err != nil || m.EndKind() != record.EndCompleted {
					t.Fatalf("a program that ends by itself with 0: err %v, end %s (%s)", err, m.EndKind(), m.Stopped)
				}
				return
			}
			if !errors.Is(err, ErrPeerFailed) {
				t.Fatalf("err = %v, want ErrPeerFailed", err)
			}
			if time.Since(t0) > 1800*time.Millisecond {
				t.Errorf("the run went on for %v after its program failed", time.Since(t0))
			}
			if m.End != record.EndPeerFailed || len(m.PeerFailures) != 1 {
				t.Fatalf("end %q, failures %+v", m.End, m.PeerFailures)
			}
			f := m.PeerFailures[0]
			if f.Side != "receiver" || !f.Program || f.How != c.how || f.Status != c.status || f.Signal != c.signal {
				t.Errorf("failure %+v, want receiver program %s status %d signal %q", f, c.how, c.status, c.signal)
			}
			if f.AtS < 0.15 || f.AtS > 1.2 {
				t.Errorf("failed at %.2f s, want about 0.2–0.3 s", f.AtS)
			}
			if res.Summary.Passed() {
				t.Error("a run whose program failed passed")
			}
			var txt strings.Builder
			report.WriteText(&txt, &res.Summary)
			if !strings.Contains(txt.String(), f.String()) || !strings.Contains(txt.String(), "RUN DID NOT COMPLETE") {
				t.Errorf("text report does not say it:\n%s", txt.String())
			}
			if c.how == record.ExitStatus && c.status == 3 {
				if !strings.Contains(f.String(), "receiver program exited with status 3 at 0.") {
					t.Errorf("failure reads %q", f)
				}
				// $u reached sh as written (it expands it itself: empty).
				if len(f.StderrTail) != 1 || f.StderrTail[0] != "bad config: " {
					t.Errorf("stderr tail %q", f.StderrTail)
				}
			}
			// report.json says it too.
			b, _ := os.ReadFile(filepath.Join(dir, record.FileReport))
			if !strings.Contains(string(b), `"end": "peer_failed"`) || !strings.Contains(string(b), `"passed": false`) {
				t.Errorf("report.json lacks the end or passed: %.300s", b)
			}
			assertLabGone(t, m.RunID)
		})
	}
}

// TestBuiltinPeerKilledMidRun: a built-in peer killed by something other
// than tcplab fails the run as a peer failure, not "setup failed".
func TestBuiltinPeerKilledMidRun(t *testing.T) {
	labtest.RequireRoot(t)
	s, err := scenario.Parse("killed.yaml", []byte("name: killed\nduration: 3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var res *Result
	go func() {
		defer close(done)
		res, err = Run(context.Background(), s, RunOptions{OutDir: t.TempDir()})
	}()
	time.Sleep(1200 * time.Millisecond)
	// The listening receiver is started first: the lower pid of the two
	// peer children.
	kids := peerChildren()
	if len(kids) != 2 {
		<-done
		t.Fatalf("peer children of this process: %v", kids)
	}
	syscall.Kill(min(kids[0], kids[1]), syscall.SIGKILL)
	<-done
	if !errors.Is(err, ErrPeerFailed) || errors.Is(err, ErrSetup) {
		t.Fatalf("err = %v, want ErrPeerFailed and not ErrSetup", err)
	}
	f := res.Summary.Meta.PeerFailures
	if len(f) != 1 || f[0].Side != "receiver" || f[0].Program || f[0].How != record.ExitSignal || f[0].Signal != "SIGKILL" {
		t.Fatalf("failures %+v", f)
	}
	if f[0].AtS < 0.8 || f[0].AtS > 2 {
		t.Errorf("killed at %.2f s, want about 1.2 s", f[0].AtS)
	}
	if strings.Contains(res.Summary.Meta.Stopped, "setup") {
		t.Errorf("stopped: %q", res.Summary.Meta.Stopped)
	}
	assertLabGone(t, res.Summary.Meta.RunID)
}

// peerChildren lists this process's children that are peer children.
func peerChildren() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains(string(env), "TCPLAB_PEER_CHILD=1") {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(st), ')')
		f := strings.Fields(string(st)[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, pid)
		}
	}
	return out
}

func TestClassifyExit(t *testing.T) {
	state := func(script string) *os.ProcessState {
		cmd := exec.Command("sh", "-c", script)
		cmd.Run()
		return cmd.ProcessState
	}
	ok, three, term, kill := state("exit 0"), state("exit 3"), state("kill -TERM $$"), state("kill -KILL $$")
	for _, c := range []struct {
		name                       string
		program, expected, stopped bool
		atEnd                      bool
		st                         *os.ProcessState
		how                        record.PeerExit
		failed                     bool
	}{
		{"program 0 early", true, false, false, false, ok, record.ExitEarly, true},
		{"program 0 early, expected", true, true, false, false, ok, "", false},
		{"program 3, expected", true, true, false, false, three, record.ExitStatus, true},
		{"program SIGTERM not ours", true, false, false, false, term, record.ExitSignal, true},
		{"program SIGTERM ours", true, false, true, false, term, "", false},
		{"program 3 after our stop", true, false, true, false, three, "", false},
		{"builtin 0 early", false, false, false, false, ok, record.ExitEarly, true},
		{"builtin 0 at stop", false, false, true, false, ok, "", false},
		{"builtin 3 at stop", false, false, true, false, three, record.ExitAfterStop, true},
		{"builtin killed after grace", false, false, true, false, kill, record.ExitNotStopped, true},
		{"builtin killed by another", false, false, false, false, kill, record.ExitSignal, true},
		{"program 0 at the end by itself", true, false, false, true, ok, "", false},
		{"program 3 at the end by itself", true, false, false, true, three, record.ExitStatus, true},
		{"builtin 0 at its deadline", false, false, false, true, ok, "", false},
		{"builtin 3 at its deadline", false, false, false, true, three, record.ExitStatus, true},
	} {
		how, _, _, failed := classifyExit(c.program, c.expected, c.stopped, c.atEnd, c.st)
		if how != c.how || failed != c.failed {
			t.Errorf("%s: %q %v, want %q %v", c.name, how, failed, c.how, c.failed)
		}
	}
}

// TestExecVarsByteForByte: only ${TCPLAB_…} names tcplab sets are replaced;
// $u, $$, ${u}, "${args[@]}", $HOME reach the program as written.
func TestExecVarsByteForByte(t *testing.T) {
	vars := map[string]string{"TCPLAB_PORT": "5001", "TCPLAB_SENDER_ADDR": "198.18.0.1"}
	for in, want := range map[string]string{
		`u=1; echo $u`:                         `u=1; echo $u`,
		`echo $$ ${u} "${args[@]}" $HOME`:      `echo $$ ${u} "${args[@]}" $HOME`,
		`${TCPLAB_SENDER_ADDR}:${TCPLAB_PORT}`: `198.18.0.1:5001`,
		`$TCPLAB_PORT ${TCPLAB_PORT`:           `$TCPLAB_PORT ${TCPLAB_PORT`,
		`${TCPLAB_OTHER}x${TCPLAB_PORT}`:       `${TCPLAB_OTHER}x5001`,
		`$${TCPLAB_PORT}`:                      `$5001`,
	} {
		if got := scenario.ExpandExecVars(in, vars); got != want {
			t.Errorf("expand %q = %q, want %q", in, got, want)
		}
	}
	_, err := scenario.Parse("x.yaml", []byte("sender:\n  exec: { command: [./c, '${TCPLAB_PROT}'] }\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:") || !strings.Contains(err.Error(), "${TCPLAB_PROT} is not a variable tcplab sets") || !strings.Contains(err.Error(), "TCPLAB_PORT") {
		t.Errorf("a misspelt variable: %v", err)
	}
}

// TestExecProgramArgsReachProgram runs a real program through the lab and
// reads back the arguments it got.
func TestExecProgramArgsReachProgram(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: args
duration: 1s
sender: { listen: true, rate: 1mbit }
receiver:
  exec:
    command: [bash, -c, 'exec 3<>/dev/tcp/$TCPLAB_SENDER_ADDR/$TCPLAB_PORT; u=1; args=(a "b c"); printf "%s|" "$u" "$$" "${args[@]}" "${TCPLAB_PORT}" "$0" >&2; echo >&2; cat <&3 >/dev/null', 'literal $HOME']
`
	s, err := scenario.Parse("args.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), s, RunOptions{OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "receiver.stderr"))
	parts := strings.Split(strings.TrimSpace(string(b)), "|")
	if len(parts) < 6 || parts[0] != "1" || parts[1] == "" || parts[1] == "$$" || parts[2] != "a" || parts[3] != "b c" || parts[4] != "5001" || parts[5] != "literal $HOME" {
		t.Errorf("the program printed %q", b)
	}
}

func TestCheckPrograms(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "notexec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for _, c := range []struct{ prog, want string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{notExec, "not executable"},
		{dir, "directory"},
		{"no-such-program-on-path", "not on PATH"},
	} {
		s, err := scenario.Parse("p.yaml", []byte("name: p\nreceiver:\n  exec: { command: ['"+c.prog+"'] }\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckPrograms(s)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:3:") || !errors.Is(err.(scenario.Errors)[0], err.(scenario.Errors)[0]) {
			t.Errorf("%s: %v, want %q at p.yaml:3", c.prog, err, c.want)
		}
	}
	s, _ := scenario.Parse("p.yaml", []byte("name: p\nreceiver:\n  exec: { command: [sh, -c, 'true'] }\n"))
	if err := CheckPrograms(s); err != nil {
		t.Errorf("sh: %v", err)
	}
}

// TestLinkMechanism: the report names what made the link, not the backend
// alone: a plain rate on the kernel backend is tbf, not netem.
func TestLinkMechanism(t *testing.T) {
	for src, want := range map[string]string{
		"name: a\n": MechNone,
		"name: a\nlink: { down: { rate: 20mbit } }\n":                                        MechTbf,
		"name: a\nlink: { down: { delay: 10ms } }\n":                                         MechNetem,
		"name: a\nduration: 4s\ntimeline: [ { at: 1s, link: { down: { rate: 1mbit } } } ]\n": MechTbf,
	} {
		s, err := scenario.Parse("a.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := linkMechanism(s, "netem"); got != want {
			t.Errorf("%q on the kernel backend: %q, want %q", src, got, want)
		}
		if got := linkMechanism(s, "userspace"); got != MechUserspace {
			t.Errorf("%q on the userspace backend: %q", src, got)
		}
	}
}

// TestExecScenarioLoadsBack: the resolved scenario.yaml of a run with a
// user's program at either end loads back (tcplab report reads it).
func TestExecScenarioLoadsBack(t *testing.T) {
	for _, src := range []string{
		"name: a\nsender: { listen: true }\nreceiver:\n  exec: { command: [./c] }\n",
		"name: b\nsender:\n  exec: { command: [./s], exits: expected }\n",
		"name: c\nsender:\n  exec: { command: [./s] }\nreceiver:\n  exec: { command: [./c] }\n",
	} {
		s, err := scenario.Parse("a.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		out, err := scenario.MarshalYAMLResolved(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scenario.Parse("resolved.yaml", out); err != nil {
			t.Errorf("%q: the resolved file does not load back: %v\n%s", src, err, out)
		}
	}
}

// TestProgramFailingAtTheEnd: a client that runs for TCPLAB_DURATION and
// then exits 3 by itself (its own checks failed) fails the run; one that
// exits 0 there does not.
func TestProgramFailingAtTheEnd(t *testing.T) {
	labtest.RequireRoot(t)
	for status, wantFail := range map[int]bool{3: true, 0: false} {
		src := fmt.Sprintf("name: at-end\nduration: 2s\nsender: { listen: true, rate: 1mbit }\nreceiver:\n  exec: { command: [bash, -c, 'exec 3<>/dev/tcp/$TCPLAB_SENDER_ADDR/$TCPLAB_PORT; sleep 2.1; exit %d'] }\n", status)
		s, err := scenario.Parse("at-end.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), s, RunOptions{OutDir: t.TempDir()})
		if !wantFail {
			if err != nil || !res.Summary.Passed() {
				t.Errorf("exit 0 at the end: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrPeerFailed) {
			t.Fatalf("exit %d at the end: err = %v, want ErrPeerFailed", status, err)
		}
		f := res.Summary.Meta.PeerFailures
		if len(f) != 1 || f[0].How != record.ExitStatus || f[0].Status != status || f[0].AtS < 2 {
			t.Errorf("failures %+v", f)
		}
	}
}

// exitedProc is a peer process that has already exited with a status.
type exitedProc struct {
	exited chan struct{}
	state  *os.ProcessState
}

func (p *exitedProc) Start() error                                   { return nil }
func (p *exitedProc) WaitReady(context.Context, time.Duration) error { return nil }
func (p *exitedProc) Stop()                                          {}
func (p *exitedProc) Wait(time.Duration) error                       { return nil }
func (p *exitedProc) Exited() <-chan struct{}                        { return p.exited }
func (p *exitedProc) Signal(os.Signal) error                         { return nil }
func (p *exitedProc) ProcessState() *os.ProcessState                 { return p.state }

// TestStopAfterOwnExit: a program that exited by itself with status 3 is
// stopped by the run's end before its watcher has recorded the exit (the
// order TestProgramFailingAtTheEnd met under a loaded runner): the exit is
// still its own and fails the run.
func TestStopAfterOwnExit(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 3")
	if err := cmd.Run(); err == nil {
		t.Fatal("sh -c 'exit 3' succeeded")
	}
	p := &exitedProc{exited: make(chan struct{}), state: cmd.ProcessState}
	close(p.exited)
	w := &watchedPeer{proc: p, role: "receiver", program: true}
	w.stop() // the run's end, before the watcher ran
	exits := make(chan *watchedPeer, 1)
	w.watch(exits, make(chan struct{}))
	<-exits
	start := tcpinfo.Monotonic() - int64(3*time.Second)
	f, failed := w.failure(start, start+int64(2*time.Second), nil)
	if !failed || f.How != record.ExitStatus || f.Status != 3 {
		t.Errorf("failure %+v, failed %v; want status 3 to fail the run", f, failed)
	}
}

// TestDeadlineIsStop: a built-in peer still flushing when the run's
// deadline passes counts as asked to stop (it was told the deadline), so
// the grace timer's SIGKILL is "did not stop when asked and was killed",
// not a kill by something other than tcplab; without the mark the same
// exit is someone else's SIGKILL. A peer that had already exited by itself
// is not marked: its exit stays its own.
func TestDeadlineIsStop(t *testing.T) {
	cmd := exec.Command("sh", "-c", "kill -9 $$")
	if err := cmd.Run(); err == nil {
		t.Fatal("sh -c 'kill -9 $$' succeeded")
	}
	start := tcpinfo.Monotonic() - int64(3*time.Second)
	judge := func(mark, exitFirst bool) record.PeerFailure {
		p := &exitedProc{exited: make(chan struct{}), state: cmd.ProcessState}
		w := &watchedPeer{proc: p, role: "sender"}
		if exitFirst {
			close(p.exited)
		}
		if mark {
			w.deadlineIsStop()
		}
		if !exitFirst {
			close(p.exited)
		}
		exits := make(chan *watchedPeer, 1)
		w.watch(exits, make(chan struct{}))
		<-exits
		f, failed := w.failure(start, start+int64(2*time.Second), nil)
		if !failed {
			t.Errorf("mark %v, exited first %v: a SIGKILLed built-in peer passed the run", mark, exitFirst)
		}
		return f
	}
	if f := judge(true, false); f.How != record.ExitNotStopped {
		t.Errorf("overran its grace after the deadline: %q, want %q", f.How, record.ExitNotStopped)
	}
	if f := judge(false, false); f.How != record.ExitSignal || f.Signal != "SIGKILL" {
		t.Errorf("killed with no stop asked: %q %q, want %q SIGKILL", f.How, f.Signal, record.ExitSignal)
	}
	if f := judge(true, true); f.How != record.ExitSignal {
		t.Errorf("killed before the deadline, marked after: %q, want %q (its own exit)", f.How, record.ExitSignal)
	}
}
