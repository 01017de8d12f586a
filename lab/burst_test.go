package lab

import (
	"context"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// TestSenderBursts: a sender that writes 64 KiB at once every 200 ms for
// 3 s sends 15 bursts of 64 one-KiB messages, every one delivered; with a
// 1 s rate phase before, the bursts start after it.
func TestSenderBursts(t *testing.T) {
	labtest.RequireRoot(t)
	for _, c := range []struct {
		name, schedule string
		bursts         int
		extra          [2]uint64 // messages of the rate phase, at least / at most
	}{
		{"bursts only", "    - { burst: { size: 64KiB, every: 200ms } }\n", 15, [2]uint64{0, 0}},
		{"after a rate phase", "    - { rate: 100/s, for: 1s }\n    - { burst: { size: 64KiB, every: 200ms } }\n", 10, [2]uint64{95, 106}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "name: bursts\nduration: 3s\nlink: { backend: userspace }\nsender:\n  schedule:\n" + c.schedule
			s, err := scenario.Parse("bursts.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), s, RunOptions{OutDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			m := res.Summary.Messages
			t.Logf("sent %d, delivered %d", m.Sent, m.Delivered)
			var txt strings.Builder
			report.WriteText(&txt, &res.Summary)
			lo, hi := uint64(c.bursts-1)*64+c.extra[0], uint64(c.bursts+1)*64+c.extra[1]
			if m.Sent < lo || m.Sent > hi || m.Sent%64 > 10 && c.extra[1] == 0 {
				t.Errorf("sent %d messages, want %d bursts of 64 (%d..%d)\n%s", m.Sent, c.bursts, lo, hi, txt.String())
			}
			if m.Lost != 0 || m.Delivered+m.Undelivered != m.Sent {
				t.Errorf("sent %d, delivered %d, undelivered %d, lost %d", m.Sent, m.Delivered, m.Undelivered, m.Lost)
			}
		})
	}
	// The form docs/scenario.md shows, before another phase.
	if _, err := scenario.Parse("doc.yaml", []byte("sender:\n  schedule:\n    - { burst: { size: 64KiB, every: 100ms }, for: 5s }\n    - { off: 1s }\n")); err != nil {
		t.Errorf("the documented burst phase: %v", err)
	}
	_, err := scenario.Parse("bad.yaml", []byte("sender:\n  schedule:\n    - { burst: { size: 64KiB, every: 100us } }\n"))
	if err == nil || !strings.Contains(err.Error(), "sender.schedule[0].burst.every") {
		t.Errorf("a burst every 100us: %v", err)
	}
	_, err = scenario.Parse("bad.yaml", []byte("sender:\n  schedule:\n    - { burst: { size: 64KiB, every: 100ms } }\n    - { off: 1s }\n"))
	if err == nil || !strings.Contains(err.Error(), "sender.schedule[0].for") {
		t.Errorf("a burst phase before others without for: %v", err)
	}
}
