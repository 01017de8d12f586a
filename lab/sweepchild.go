package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// PointEnv marks a process as one point of a sweep: tcplab (or a test
// binary) that finds it set runs the scenario DIR/point.yaml into DIR, DIR
// being the variable's value, and exits: 0 when every expectation held, 1
// when one failed, 2 on an error.
//
// Why a process per point: each point's userspace link gets its own Go
// scheduler and GOMAXPROCS reserve, as a single run has (dozens of links'
// locked threads in one process share a handful of Ps), and a point that
// crashes takes only itself down.
const PointEnv = "TCPLAB_SWEEP_POINT"

// filePoint is the point's scenario, written by the sweep for its child.
const filePoint = "point.yaml"

// ParentEnv holds the sweep's pid for its points: a point whose parent is
// no longer that process (the sweep died before the point could arm its
// parent-death signal) exits at once.
const ParentEnv = "TCPLAB_SWEEP_PARENT"

// MaybeRunPoint runs the sweep point and exits if this process was started
// as one. Call it first thing in main (after peers.MaybeRunChild), and in
// TestMain of tests that run sweeps.
func MaybeRunPoint() {
	dir := os.Getenv(PointEnv)
	if dir == "" {
		return
	}
	os.Unsetenv(PointEnv) // not for the peers this run starts
	parent, _ := strconv.Atoi(os.Getenv(ParentEnv))
	os.Unsetenv(ParentEnv)
	// The sweep started us with a parent-death signal (SIGTERM); if it died
	// before that was armed, we are someone else's child now.
	if parent == 0 || os.Getppid() != parent {
		fmt.Fprintln(os.Stderr, "tcplab sweep point: the sweep that started this point is gone")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rd, err := record.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplab sweep point:", err)
		os.Exit(2)
	}
	b, err := rd.ReadFile(filePoint, scenario.MaxFileSize)
	rd.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplab sweep point:", err)
		os.Exit(2)
	}
	s, err := scenario.Parse(filepath.Join(dir, filePoint), b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplab sweep point:", err)
		os.Exit(2)
	}
	res, err := Run(ctx, s, RunOptions{OutDir: dir, point: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplab sweep point:", err)
		os.Exit(2)
	}
	if !res.Summary.Passed() {
		os.Exit(1)
	}
	os.Exit(0)
}

// runPoint runs one point as a child process of exe in the sweep
// directory's subdirectory p.ID and returns its report.
func runPoint(ctx context.Context, exe string, p *scenario.SweepPoint, sweep *record.Dir) (*report.Summary, error) {
	dir, err := sweep.Mkdir(p.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	b, err := scenario.MarshalYAMLResolved(p.Scenario)
	if err != nil {
		return nil, err
	}
	rd, err := record.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer rd.Close()
	if err := rd.WriteFile(filePoint, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), PointEnv+"="+dir, ParentEnv+"="+strconv.Itoa(os.Getpid()))
	// The point ends (cleanly: SIGTERM) when the sweep dies, even by kill -9.
	// The signal follows the thread that forked the point; Go ends a thread
	// only when a goroutine exits locked to it, which this one is not.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var sum *report.Summary
	if rb, err := rd.ReadFile(record.FileReport, 8*maxJSONSize); err == nil {
		var s report.Summary
		if err := json.Unmarshal(rb, &s); err == nil {
			sum = &s
		}
	}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return sum, nil
	case errors.As(runErr, &ee) && ee.ExitCode() == 1:
		return sum, nil // expectations failed: the report says which
	}
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		msg = runErr.Error()
	}
	return sum, errors.New(strings.TrimPrefix(msg, "tcplab sweep point: "))
}
