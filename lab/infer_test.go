package lab

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// TestInferLoop closes the loop the first seed needs: a lab with known
// settings is run, a scenario is inferred from its run directory, and that
// scenario, run again, reproduces the verdict, the base RTT within 2% and
// the goodput within 10% — for a slow reader, a 20 Mbit/s link and a paced
// sender.
func TestInferLoop(t *testing.T) {
	labtest.RequireRoot(t)
	cases := []struct{ name, src string }{
		{"slow-reader", "name: slow-reader\nduration: 4s\nlink: { both: { delay: 5ms } }\nsender: { message: { size: 1KiB } }\nreceiver: { read: { rate: 2MB/s, size: 16KiB } }\n"},
		{"link-20mbit", "name: link-20mbit\nduration: 4s\nlink: { both: { delay: 10ms }, down: { rate: 20mbit } }\nsender: { message: { size: 16KiB } }\n"},
		{"paced-sender", "name: paced-sender\nduration: 4s\nlink: { both: { delay: 15ms } }\nsender: { rate: 5mbit, message: { size: 1KiB } }\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first, dir := runSrc(t, c.name, c.src, RunOptions{})
			s, text := inferred(t, dir, c.name)
			if !strings.Contains(string(text), "# delay: half the ") {
				t.Errorf("the inferred delay does not say its source:\n%s", text)
			}
			again, _ := runScenario(t, s, RunOptions{OutDir: filepath.Join(t.TempDir(), "again")})
			a, b := &first.Summary, &again.Summary
			t.Logf("%s: %s, base RTT %.2f ms, goodput %.2f Mbit/s → inferred and run again: %s, %.2f ms, %.2f Mbit/s\n%s",
				c.name, a.Verdict.Class, a.Path.MinRTTMs, a.Path.GoodputBits/1e6, b.Verdict.Class, b.Path.MinRTTMs, b.Path.GoodputBits/1e6, text)
			assertReproduced(t, a, b, rttTolerance(c.name))
			if !b.Passed() && b.Trust != nil && b.Trust.Level != report.TrustDistorted {
				t.Errorf("the inferred scenario's own expectation failed: %+v", b.Expectations)
			}
		})
	}
	if _, err := InferScenario(t.TempDir(), "x"); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("an empty directory: %v", err)
	}
}

// TestInferBurstyLoss: loss that comes in bursts (a Gilbert-Elliott link,
// mean burst 5 packets) is inferred as a Gilbert-Elliott channel of about
// that burst, random loss as random loss.
func TestInferBurstyLoss(t *testing.T) {
	cases := []struct{ name, loss string }{
		{"bursty", "gilbert_elliott: { p: 0.2%, r: 20% }"},
		{"random", "loss: 1%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			timerBound(t)
			src := "name: " + c.name + "\nduration: 8s\nsample_interval: 50ms\nlink: { both: { delay: 10ms }, down: { rate: 20mbit, " + c.loss + " } }\n"
			first, dir := runSrc(t, c.name, src, RunOptions{})
			s, text := inferred(t, dir, c.name)
			t.Logf("loss burst %.2f, retransmitted %.3f%%\n%s", first.Summary.Path.LossBurst, 100*first.Summary.Path.RetransRate, text)
			ge := s.Link.Down.GilbertElliott
			if c.name == "random" {
				if ge != nil || s.Link.Down.Loss == nil || *s.Link.Down.Loss == 0 || first.Summary.Path.LossBurst > 1.6 {
					t.Errorf("random loss inferred as %+v / loss %v (burst %.2f)", ge, s.Link.Down.Loss, first.Summary.Path.LossBurst)
				}
				return
			}
			if ge == nil {
				t.Fatalf("bursty loss (burst %.2f) not inferred as Gilbert-Elliott", first.Summary.Path.LossBurst)
			}
			if r := float64(ge.R) / 100; r < 0.1 || r > 0.5 {
				t.Errorf("r %.3f: mean burst %.1f packets, want about 5 (2 to 10)", r, 1/r)
			}
		})
	}
}

// inferred is the scenario InferScenario writes from dir (name-again),
// parsed, and its text.
func inferred(t *testing.T, dir, name string) (*scenario.Scenario, []byte) {
	t.Helper()
	text, err := InferScenario(dir, name+"-again")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenario.Parse(name+"-again.yaml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return s, text
}

// assertReproduced holds a run again from an inferred scenario (b) to the
// original (a): the verdict, the base RTT within tol and the goodput
// within 10%.
func assertReproduced(t *testing.T, a, b *report.Summary, tol float64) {
	t.Helper()
	if a.Verdict.Class != b.Verdict.Class {
		t.Errorf("verdict %s, then %s", a.Verdict.Class, b.Verdict.Class)
	}
	if d := math.Abs(b.Path.MinRTTMs-a.Path.MinRTTMs) / a.Path.MinRTTMs; d > tol {
		t.Errorf("base RTT %.3f ms, then %.3f ms: %.1f%% apart (at most %.0f%%)", a.Path.MinRTTMs, b.Path.MinRTTMs, 100*d, 100*tol)
	}
	if d := math.Abs(b.Path.GoodputBits-a.Path.GoodputBits) / a.Path.GoodputBits; d > 0.10 {
		t.Errorf("goodput %.2f Mbit/s, then %.2f: %.1f%% apart (at most 10%%)", a.Path.GoodputBits/1e6, b.Path.GoodputBits/1e6, 100*d)
	}
}

// rttTolerance is how far apart two runs of one path's base RTT may be:
// behind a rate, the same lab's min_rtt varies by ±0.45 ms run to run (the
// sender's smallest burst at the bottleneck is 1 to 2.4 segments: 0.6 to
// 1.45 ms at 20 Mbit/s), so two runs of one 20 ms path differ by up to 4%;
// without a rate, 2%.
func rttTolerance(name string) float64 {
	if name == "link-20mbit" {
		return 0.04
	}
	return 0.02
}
