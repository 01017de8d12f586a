package impair

import (
	"math"
	"testing"
	"time"
)

func TestProb32(t *testing.T) {
	if Prob32(0) != 0 || Prob32(1) != math.MaxUint32 || Prob32(0.5) != 1<<31 {
		t.Errorf("Prob32: %d %d %d", Prob32(0), Prob32(1), Prob32(0.5))
	}
	if Hit(0, 0) {
		t.Error("probability 0 hit")
	}
}

// TestCorrelation: with correlation ρ, consecutive draws are correlated,
// and the mean stays one half.
func TestCorrelation(t *testing.T) {
	for _, rho := range []float64{0, 0.5, 0.9} {
		r := NewRand(1)
		var c Correlated
		c.SetCorrelation(rho)
		var prev, sum, sumxy, sumx2 float64
		const n = 200000
		for i := 0; i < n; i++ {
			x := float64(c.Next(r))/(1<<32) - 0.5
			sum += x
			sumxy += x * prev
			sumx2 += x * x
			prev = x
		}
		corr := sumxy / sumx2
		t.Logf("rho %.1f: lag-1 correlation %.3f, mean %.4f", rho, corr, sum/n)
		if math.Abs(corr-rho) > 0.05 || math.Abs(sum/n) > 0.01 {
			t.Errorf("rho %.1f: lag-1 correlation %.3f mean %.4f", rho, corr, sum/n)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Impairment{
		{Loss: 1.5},
		{Loss: 0.1, GE: &GilbertElliott{P: 0.1, R: 0.1}},
		{Reorder: &Reorder{Probability: 0.1}},
		{Distribution: "gaussian"},
		{Delay: -time.Second},
		{Overhead: 5000},
	}
	for _, im := range bad {
		if im.Validate() == nil {
			t.Errorf("accepted %+v", im)
		}
	}
	ok := Impairment{Delay: time.Millisecond, Jitter: time.Millisecond, Distribution: Normal, Loss: 0.01, Reorder: &Reorder{Probability: 0.1}}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
	if (&Impairment{}).QueueLimit() != DefaultLimit {
		t.Error("default limit")
	}
}
