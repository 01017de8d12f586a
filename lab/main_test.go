package lab

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/internal/testlock"
	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
)

// TestMain lets this test binary serve as the peer child of the runs it
// starts, and fails the package if any run left a namespace behind.
func TestMain(m *testing.M) {
	peers.MaybeRunChild()
	MaybeRunPoint()
	code := testlock.Main(m.Run)
	// Runs of this process that kept their address slot left something.
	if runs := netem.RunsOwnedBy(os.Getpid()); len(runs) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: runs left behind (namespaces or address slots): %v\n", runs)
		code = 1
	}
	os.Exit(code)
}

func leftoverNamespaces() []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tcplab-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// update rewrites the golden reports under testdata (go test ./lab -update).
var update = flag.Bool("update", false, "rewrite the golden reports in testdata")

// timerBound marks a test whose outcome is decided by timers (keepalive,
// retransmission backoff, detection times, a sweep's waiting points), not
// by CPU: these run beside each other (t.Parallel, two at a time on two
// cores) after the CPU-bound tests, which keeps the package about a minute
// shorter. Verdict and throughput tests stay serial.
func timerBound(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
}
