package netem

import (
	"os"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/testlock"
)

// TestMain holds the heavy-tests lock: the conformance suite measures timing
// and must not share two cores with another package's gigabit runs.
func TestMain(m *testing.M) { os.Exit(testlock.Main(m.Run)) }

// requireRoot skips tests that build namespaces when not root.

// assertNoLeftovers fails when a namespace of runID is still mounted.
func assertNoLeftovers(tb testing.TB, runID string) {
	tb.Helper()
	ents, _ := os.ReadDir(NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix+runID) {
			tb.Errorf("namespace %s left behind", e.Name())
		}
	}
	if hasSlotFile(runID) {
		tb.Errorf("address slot of run %s left behind", runID)
	}
}
