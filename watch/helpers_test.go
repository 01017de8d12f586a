package watch

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// socketPair is a pair of connected unix sockets (no traffic, no address)
// and the inode of the first, from /proc/self/fd.
func socketPair(t *testing.T) (fds [2]int, inode uint32) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fds[0]))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 32)
	if err != nil {
		t.Fatalf("%s: %v", l, err)
	}
	return fds, uint32(n)
}
