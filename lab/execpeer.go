package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
	"github.com/vishvananda/netns"
)

// peerProc is a peer as the run drives it: the built-in peers' child
// process (peers.Process) or a user's command (execProc).
type peerProc interface {
	Start() error // called on a thread inside the peer's namespace
	WaitReady(ctx context.Context, timeout time.Duration) error
	Stop()
	Wait(grace time.Duration) error
	Exited() <-chan struct{}
	Signal(sig os.Signal) error
	// ProcessState is the exit state, valid once Exited is closed.
	ProcessState() *os.ProcessState
}

// execProc runs a scenario's exec peer: only commands written in the
// scenario run, in their own process group, stopped with SIGTERM and
// killed two seconds later.
type execProc struct {
	role   string
	cmd    *exec.Cmd
	start  int64
	events io.Writer
	mu     *sync.Mutex

	exited  chan struct{}
	err     error
	stopped bool
	stopMu  sync.Mutex
	files   []*os.File
}

// newExecProc prepares e for role with the lab's variables.
func newExecProc(role string, e *scenario.Exec, vars map[string]string, rd *record.Dir, start int64, events io.Writer, mu *sync.Mutex) (*execProc, error) {
	expand := func(s string) string { return scenario.ExpandExecVars(s, vars) }
	argv := make([]string, len(e.Command))
	for i, a := range e.Command {
		argv[i] = expand(a)
	}
	path, err := programPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("%s.exec: %w", role, err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Dir = rd.Path
	if e.Dir != "" {
		cmd.Dir = expand(e.Dir)
	}
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range e.Env {
		cmd.Env = append(cmd.Env, k+"="+expand(v))
	}
	// Its own process group (SIGTERM at the end reaches its children), and
	// SIGTERM if tcplab dies without stopping it (kill -9).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	p := &execProc{role: role, cmd: cmd, start: start, events: events, mu: mu, exited: make(chan struct{})}
	for _, x := range []struct {
		name string
		dst  *io.Writer
	}{{role + ".stdout", &cmd.Stdout}, {role + ".stderr", &cmd.Stderr}} {
		f, err := rd.Create(x.name)
		if err != nil {
			p.closeFiles()
			return nil, err
		}
		p.files = append(p.files, f)
		*x.dst = f
	}
	return p, nil
}

func (p *execProc) closeFiles() {
	for _, f := range p.files {
		f.Close()
	}
}

func (p *execProc) event(kind record.EventKind, detail string) {
	b, _ := json.Marshal(peers.Event{T: tcpinfo.Monotonic() - p.start, Side: record.Side(p.role), Kind: kind, Detail: detail})
	p.mu.Lock()
	p.events.Write(append(b, '\n'))
	p.mu.Unlock()
}

// Start starts the command (call it inside the namespace).
func (p *execProc) Start() error {
	if err := p.cmd.Start(); err != nil {
		p.closeFiles()
		return fmt.Errorf("start %s.exec %q: %w", p.role, p.cmd.Path, err)
	}
	p.event(record.EventExecStarted, fmt.Sprintf("pid %d: %q", p.cmd.Process.Pid, p.cmd.Args))
	go func() {
		p.err = p.cmd.Wait()
		p.closeFiles()
		p.stopMu.Lock()
		stopped := p.stopped
		p.stopMu.Unlock()
		status := "exit 0"
		if p.err != nil {
			status = p.err.Error()
		}
		if stopped {
			status += " (after tcplab stopped it)"
		}
		p.event(record.EventExecExited, status)
		close(p.exited)
	}()
	return nil
}

// WaitReady gives the program 50 ms: a user's program is ready when it
// says so on the wire; the other side retries or the program does. One
// that exits at once is judged by the run like any early exit.
func (p *execProc) WaitReady(ctx context.Context, timeout time.Duration) error {
	select {
	case <-p.exited:
	case <-time.After(50 * time.Millisecond):
	}
	return nil
}

// Stop sends SIGTERM to the command's process group.
func (p *execProc) Stop() {
	p.stopMu.Lock()
	p.stopped = true
	p.stopMu.Unlock()
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
}

// Wait waits for the command; after grace its process group is killed. A
// user program's exit status is an event, not a failure of the run.
func (p *execProc) Wait(grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	return nil
}

// ProcessState is the command's exit state (valid once Exited is closed).
func (p *execProc) ProcessState() *os.ProcessState { return p.cmd.ProcessState }

// Exited is closed when the command has exited.
func (p *execProc) Exited() <-chan struct{} { return p.exited }

// Signal sends sig to the program's process group.
func (p *execProc) Signal(sig os.Signal) error {
	if p.cmd.Process == nil {
		return errors.New("not started")
	}
	if s, ok := sig.(syscall.Signal); ok {
		return syscall.Kill(-p.cmd.Process.Pid, s)
	}
	return p.cmd.Process.Signal(sig)
}

// listenPoll is how often waitListening looks for the program's socket.
const listenPoll = 10 * time.Millisecond

// waitListening waits until a socket in ns listens on port — a user's
// program that listens may take a while to start — or the program exits
// (its watcher reports that), ctx ends or timeout passes. It looks through
// sock_diag: connecting to find out would be a connection on the wire.
func waitListening(ctx context.Context, ns netns.NsHandle, port uint16, exited <-chan struct{}, timeout time.Duration) error {
	var fd int
	if err := netem.Do(ns, func() (err error) { fd, err = tcpinfo.OpenDiagSocket(); return }); err != nil {
		return err
	}
	conn := tcpinfo.NewDiagConn(fd)
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	for {
		found := false
		if err := conn.Dump(tcpinfo.DiagFilter{States: tcpinfo.StateListen, SrcPort: port, Ext: 1}, func(*tcpinfo.DiagSocket) { found = true }); err != nil {
			return err
		}
		if found {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on port %d after %v (the program must listen on ${TCPLAB_PORT})", port, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return nil // the watcher reports the exit
		case <-time.After(listenPoll):
		}
	}
}
