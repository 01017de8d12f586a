package hist

import "testing"

// TestHistogram: quantiles within 1% below the true value, over values
// that span many powers of two; the max and count exact.
func TestHistogram(t *testing.T) {
	var h Histogram
	for v := uint64(1); v <= 100000; v++ {
		h.Add(v)
	}
	for _, c := range []struct {
		q    float64
		want uint64
	}{{0.5, 50000}, {0.99, 99000}, {0.999, 99900}, {0.1, 10000}, {0.001, 101}, {0, 1}} {
		got := h.Quantile(c.q)
		if float64(got) < 0.99*float64(c.want) || float64(got) > 1.0001*float64(c.want) {
			t.Errorf("q%.3f = %d, want %d to 1%%", c.q, got, c.want)
		}
	}
	if h.Max() != 100000 || h.Count() != 100000 {
		t.Errorf("max %d count %d", h.Max(), h.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram quantile not 0")
	}
	h.Add(1 << 62)
	if h.Quantile(1) != 1<<62 {
		t.Errorf("huge value: %d", h.Quantile(1))
	}
	h.Add(^uint64(0))
	if h.Max() != ^uint64(0) || h.Quantile(1) != ^uint64(0) {
		t.Errorf("largest value: max %d q1 %d", h.Max(), h.Quantile(1))
	}
}

// TestMergeAndReset: a merge counts both; a reset empties the histogram and
// keeps its blocks, so the next values of the same range allocate nothing.
func TestMergeAndReset(t *testing.T) {
	var a, b Histogram
	for v := uint64(1000); v < 2000; v++ {
		a.Add(v)
		b.Add(v * 10)
	}
	a.Merge(&b)
	if a.Count() != 2000 || a.Max() != 19990 {
		t.Fatalf("merged: count %d max %d", a.Count(), a.Max())
	}
	if q := a.Quantile(0.75); q < 14850 || q > 15000 {
		t.Errorf("merged q0.75 = %d, want ≈15000", q)
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(0.5) != 0 {
		t.Fatalf("reset: count %d", a.Count())
	}
	if n := testing.AllocsPerRun(100, func() {
		for v := uint64(1000); v < 20000; v += 7 {
			a.Add(v)
		}
	}); n != 0 {
		t.Errorf("Add after a reset allocates %.1f times", n)
	}
	var c Histogram
	c.Add(5000) // its power of two is allocated now
	if n := testing.AllocsPerRun(100, func() { c.Add(5001) }); n != 0 {
		t.Errorf("Add in a power of two seen allocates %.1f times", n)
	}
}
