package netem

import (
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/netem/impair"
)

// TestNetemInKernel applies a netem qdisc carrying every parameter tcplab
// sets — a Gilbert-Elliott loss model included, which go-tc cannot decode —
// to a real kernel, reads it back with tcplab's codec and compares. It runs
// where the kernel has sch_netem (the netem VM, GitHub's runners).
func TestNetemInKernel(t *testing.T) {
	labtest.RequireRoot(t)
	labtest.RequireNetem(t, func() error { return HaveQdisc("netem") })
	for _, im := range []impair.Impairment{
		{Delay: 25 * time.Millisecond, Jitter: 2 * time.Millisecond, Distribution: impair.Normal, DelayCorrelation: 0.25, Loss: 0.01, Seed: 3},
		{Delay: 10 * time.Millisecond, GE: &impair.GilbertElliott{P: 0.01, R: 0.2, OneMinusH: 1}, Duplicate: 0.01, Corrupt: 0.001},
		{Delay: 5 * time.Millisecond, Reorder: &impair.Reorder{Probability: 0.25, Correlation: 0.5, Gap: 5}, RateBits: 20e6, Overhead: 14, Limit: 5000},
		{Blackhole: true},
	} {
		topo, err := Build(Config{Backend: Kernel, Down: im, Up: im})
		if err != nil {
			t.Fatalf("%+v: %v", im, err)
		}
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
	}
}
