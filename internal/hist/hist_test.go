package hist

import "testing"

func TestHistogram(t *testing.T) {
	var h Histogram
	for v := uint64(1); v <= 10000; v++ {
		h.Add(v)
	}
	for _, c := range []struct {
		q    float64
		want uint64
	}{{0.5, 5000}, {0.99, 9900}, {0, 1}} {
		got := h.Quantile(c.q)
		if float64(got) < 0.93*float64(c.want) || float64(got) > 1.0001*float64(c.want) {
			t.Errorf("q%.2f = %d, want ≈%d (within one bucket, 1/16)", c.q, got, c.want)
		}
	}
	if h.Max() != 10000 || h.Count() != 10000 {
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
}
