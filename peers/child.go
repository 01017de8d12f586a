package peers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ChildEnv marks a process as a peer child: tcplab (or a test binary) that
// finds it set runs the peer described on its standard input and exits.
const ChildEnv = "TCPLAB_PEER_CHILD"

// File descriptors the parent hands to a child.
const (
	fdSamples = 3
	fdEvents  = 4
)

// MaybeRunChild runs the peer and exits if this process was started as a peer
// child. Call it first thing in main (and in TestMain of tests that run peers).
func MaybeRunChild() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	if err := childMain(); err != nil {
		fmt.Fprintln(os.Stderr, "tcplab peer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func childMain() error {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read peer config from stdin: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("decode peer config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// With no start in the config, the parent sends "start NS" once both
	// peers are ready: the run's clock starts at the first connect attempt.
	begin := make(chan int64, 1)
	// The parent closes stdin to stop us (or dies, which closes it too).
	go func() {
		if cfg.Start == 0 {
			line, err := in.ReadString('\n')
			var t int64
			if _, serr := fmt.Sscanf(line, "start %d", &t); err == nil && serr == nil {
				begin <- t
			}
		}
		io.Copy(io.Discard, in)
		cancel()
	}()
	samples := os.NewFile(fdSamples, "samples.jsonl")
	events := os.NewFile(fdEvents, "events.jsonl")
	return Run(ctx, cfg, Outputs{Samples: samples, Events: events, Ready: os.Stdout, Begin: begin})
}

// Process is a peer child as the parent sees it.
type Process struct {
	Config Config
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan error
	exited chan struct{} // closed when the child has exited
	err    error         // its exit error, valid once exited is closed
}

// NewProcess prepares a peer child running exe (normally os.Executable()).
// samples and events are opened with O_APPEND by the caller, so both peers'
// lines land whole in the same files; stderr collects the child's messages.
func NewProcess(exe string, cfg Config, samples, events *os.File, stderr io.Writer) *Process {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.ExtraFiles = []*os.File{samples, events} // fds 3 and 4
	cmd.Stderr = stderr
	return &Process{Config: cfg, cmd: cmd, ready: make(chan error, 1), exited: make(chan struct{})}
}

// Start starts the child. Call it inside the peer's namespace (netem.Do): the
// child inherits the namespace of the thread that starts it.
func (p *Process) Start() error {
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s peer: %w", p.Config.Role, err)
	}
	p.stdin = stdin
	b, _ := json.Marshal(p.Config)
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("send config to %s peer: %w", p.Config.Role, err)
	}
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err == nil && strings.TrimSpace(line) == "ready" {
			p.ready <- nil
		} else {
			p.ready <- fmt.Errorf("%s peer exited before it was ready", p.Config.Role)
		}
		io.Copy(io.Discard, r)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// Begin tells a child started without Config.Start that the run starts at
// start (Monotonic ns): the connecting side dials now.
func (p *Process) Begin(start int64) error {
	if _, err := fmt.Fprintf(p.stdin, "start %d\n", start); err != nil {
		return fmt.Errorf("start %s peer: %w", p.Config.Role, err)
	}
	return nil
}

// WaitReady waits until the child listens (or, connecting, is ready to).
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-p.ready:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s peer not ready after %v", p.Config.Role, timeout)
	}
}

// Signal sends sig to the child (a timeline's freeze or kill).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed when the child has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop asks the child to end now (it flushes its samples and writes its stats).
func (p *Process) Stop() {
	if p.stdin != nil {
		p.stdin.Close()
	}
}

// Wait waits for the child to exit; after grace it is killed.
func (p *Process) Wait(grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.exitErr(p.err)
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.exited
		return errors.Join(fmt.Errorf("%s peer did not stop within %v: killed", p.Config.Role, grace), p.exitErr(p.err))
	}
}

func (p *Process) exitErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s peer: %w", p.Config.Role, err)
}

// ProcessState is the child's exit state (valid once Exited is closed).
func (p *Process) ProcessState() *os.ProcessState { return p.cmd.ProcessState }

// SetStderr sets where the child's standard error goes (before Start).
func (p *Process) SetStderr(w io.Writer) { p.cmd.Stderr = w }
