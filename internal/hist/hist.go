// Package hist is a fixed-size log-linear histogram of non-negative values
// (lags, latenesses) that never allocates after creation.
package hist

import "math/bits"

// subBits: 16 sub-buckets per power of two: values are kept to within 1/16 (6%).
const subBits = 4

// Histogram counts non-negative values (lag in µs) in log-linear buckets. It
// never allocates after creation.
type Histogram struct {
	counts [64 << subBits]uint64
	n      uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	return (e+1)<<subBits + int(v>>uint(e))&(1<<subBits-1)
}

func bucketLow(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	e := i>>subBits - 1
	m := uint64(i&(1<<subBits-1)) | 1<<subBits
	return m << uint(e)
}

// Add counts v.
func (h *Histogram) Add(v uint64) {
	h.counts[bucketOf(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// Count is the number of values added.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value added.
func (h *Histogram) Max() uint64 { return h.max }

// Quantile returns the lower bound of the bucket holding quantile q (0..1).
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			v := bucketLow(i)
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

// Merge adds every value counted in o.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}
