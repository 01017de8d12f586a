// Command tcplab is a synthetic load and fault-injection harness for TCP:
// it runs a scenario file's sender and receiver in network namespaces over an
// impaired link, samples tcp_info on both ends and reports whether the
// transfer was sender-, receiver- or network-limited.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tcplab/tcplab/lab"
	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
)

// ExitCode is what tcplab returns to its caller.
type ExitCode int

const (
	// ExitOK: every expectation held (or there were none).
	ExitOK ExitCode = 0
	// ExitExpectFailed: the run completed and an expectation failed.
	ExitExpectFailed ExitCode = 1
	// ExitSetup: bad input, or the lab could not be set up or run; the
	// message says what and where, and nothing was left behind.
	ExitSetup ExitCode = 2
)

// exitError carries an exit code up to main.
type exitError struct {
	code ExitCode
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code ExitCode, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code, err}
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	netem.EnterRootless()
	peers.MaybeRunChild()
	lab.MaybeRunPoint()
	os.Exit(int(run(os.Args[1:])))
}

func run(args []string) ExitCode {
	cmd := newRootCmd()
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code != ExitExpectFailed {
			fmt.Fprintln(os.Stderr, "tcplab:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "tcplab:", err)
	return ExitSetup
}
