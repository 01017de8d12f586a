// Package labtest is the one home of helpers for tcplab's tests: the
// privilege and leftover checks every package with live runs needs. It
// imports nothing of tcplab's, so any package's own tests can use it.
package labtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RequireRoot skips a test that builds namespaces when not run as root,
// saying why.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces")
	}
}

// Where runs leave their traces: namespace files and address slots (the
// defaults of package netem; a rootless run keeps its own in private).
var (
	NetnsDir = "/run/netns"
	SlotDir  = "/run/tcplab/slots"
)

// Leftovers lists what run runID left on the host: its namespaces and its
// address slot.
func Leftovers(runID string) []string {
	var out []string
	ents, _ := os.ReadDir(NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tcplab-"+runID+"-") {
			out = append(out, "namespace "+e.Name())
		}
	}
	slots, _ := os.ReadDir(SlotDir)
	for _, s := range slots {
		b, err := os.ReadFile(filepath.Join(SlotDir, s.Name()))
		if err == nil && strings.HasPrefix(string(b), runID+" ") {
			out = append(out, "address slot "+s.Name())
		}
	}
	return out
}

// AssertNoLeftovers fails the test when run runID left a namespace or its
// address slot behind.
func AssertNoLeftovers(tb testing.TB, runID string) {
	tb.Helper()
	for _, l := range Leftovers(runID) {
		tb.Errorf("run %s left its %s behind", runID, l)
	}
}
