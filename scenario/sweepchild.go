package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/report"
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

// MaybeRunPoint runs the sweep point and exits if this process was started
// as one. Call it first thing in main (after peers.MaybeRunChild), and in
// TestMain of tests that run sweeps.
func MaybeRunPoint() {
	dir := os.Getenv(PointEnv)
	if dir == "" {
		return
	}
	os.Unsetenv(PointEnv) // not for the peers this run starts
	s, err := Load(filepath.Join(dir, filePoint))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplab sweep point:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, s, RunOptions{OutDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplab sweep point:", err)
		os.Exit(2)
	}
	if !res.Summary.Passed() {
		os.Exit(1)
	}
	os.Exit(0)
}

// runPoint runs one point as a child process of exe and returns its report.
func runPoint(ctx context.Context, exe string, p *SweepPoint, dir string) (*report.Summary, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	b, err := yamlMarshal(p.Scenario)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, filePoint), b, 0o644); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), PointEnv+"="+dir)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var sum *report.Summary
	if rb, err := os.ReadFile(filepath.Join(dir, FileReport)); err == nil {
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
