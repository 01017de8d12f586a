package lab

import (
	"context"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// TestReadSchedule: a receiver whose read rate changes during the run —
// as fast as data comes, then 20 KB/s, then fast again — under a 2 Mbit/s
// sender is receiver-limited in its slow phase only, as the scenario's own
// phase expectations say.
func TestReadSchedule(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: read-schedule
duration: 6s
link: { backend: userspace }
sender:
  rate: 2mbit
receiver:
  socket: { rcvbuf: 64KiB }
  read:
    size: 4KiB
    schedule:
      - { rate: max, for: 2s }
      - { rate: 20KB/s, for: 2s }
      - { rate: max }
expect:
  - phase(0.5s..2s).verdict == sender-limited
  - phase(2.75s..4s).verdict == receiver-limited
  - phase(5s..6s).verdict == sender-limited
`
	s, err := scenario.Parse("read-schedule.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), s, RunOptions{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	report.WriteText(&txt, &res.Summary)
	if len(res.Summary.Expectations) != 3 {
		t.Fatalf("%d expectations judged, want 3\n%s", len(res.Summary.Expectations), txt.String())
	}
	for _, e := range res.Summary.Expectations {
		if !e.Holds {
			t.Errorf("%s (actual %s)", e.Expect, e.Actual)
		}
	}
	if t.Failed() {
		t.Logf("\n%s", txt.String())
	}
}
