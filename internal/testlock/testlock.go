// Package testlock serialises the test binaries that load the machine:
// `go test ./...` runs packages in parallel, and on two cores a package
// measuring link timing next to one pushing gigabits gets the other's noise.
// Each such package holds an exclusive flock for its whole run.
package testlock

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Path is the lock file shared by tcplab's heavy test packages.
var Path = filepath.Join(os.TempDir(), "tcplab-heavy-tests.lock")

// Acquire blocks until this process holds the lock and returns its release.
func Acquire() (release func(), err error) {
	f, err := os.OpenFile(Path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open test lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", Path, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// Main acquires the lock, runs the tests and releases it; for TestMain.
// A fuzz worker (a child `go test -fuzz` starts with -test.fuzzworker) runs
// without it: its coordinator already holds the lock and waits on it.
func Main(run func() int) int {
	if FuzzWorker(os.Args[1:]) {
		return run()
	}
	release, err := Acquire()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer release()
	return run()
}

// FuzzWorker says whether args are those of a fuzz worker process.
func FuzzWorker(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "test.fuzzworker" {
			return true
		}
	}
	return false
}
