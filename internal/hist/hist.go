// Package hist is a log-linear histogram of non-negative values (lags,
// latenesses) kept to within 1%, that allocates only the first time a value
// lands in a new power of two (at most 64 times over its life).
package hist

import "math/bits"

// subBits: 128 sub-buckets per power of two: values are kept to within
// 1/128 (0.8%), so a quantile is read to 1% (report.html's lag, the link's
// lateness).
const subBits = 7

const subBuckets = 1 << subBits

// Histogram counts non-negative values (lag in µs) in log-linear buckets.
// The buckets of a power of two are allocated when a value first lands in
// it: a connection's lags span a few powers of two, so a histogram holds a
// few KiB, not the 64 KiB all of them would take (a fan-out keeps one per
// connection). The zero value is ready to use.
type Histogram struct {
	low    [subBuckets]uint64 // values below subBuckets, one bucket each
	blocks [64 - subBits]*[subBuckets]uint64
	n      uint64
	max    uint64
}

// bucketOf returns the block (-1: low) and the index in it of v.
func bucketOf(v uint64) (int, int) {
	if v < subBuckets {
		return -1, int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e has subBits+1 bits
	return e, int(v>>uint(e)) & (subBuckets - 1)
}

// bucketLow is the smallest value of the bucket.
func bucketLow(block, i int) uint64 {
	if block < 0 {
		return uint64(i)
	}
	return (uint64(i) | subBuckets) << uint(block)
}

// Add counts v.
func (h *Histogram) Add(v uint64) {
	b, i := bucketOf(v)
	if b < 0 {
		h.low[i]++
	} else {
		blk := h.blocks[b]
		if blk == nil {
			blk = new([subBuckets]uint64)
			h.blocks[b] = blk
		}
		blk[i]++
	}
	h.n++
	if v > h.max {
		h.max = v
	}
}

// Count is the number of values added.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value added.
func (h *Histogram) Max() uint64 { return h.max }

// Quantile returns the lower bound of the bucket holding quantile q (0..1):
// within 0.8% below the true value.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	found := func(block, i int) uint64 {
		return min(bucketLow(block, i), h.max)
	}
	for i, c := range h.low {
		if seen += c; seen > rank {
			return found(-1, i)
		}
	}
	for b, blk := range h.blocks {
		if blk == nil {
			continue
		}
		for i, c := range blk {
			if seen += c; seen > rank {
				return found(b, i)
			}
		}
	}
	return h.max
}

// Merge adds every value counted in o.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.low {
		h.low[i] += c
	}
	for b, blk := range o.blocks {
		if blk == nil {
			continue
		}
		if h.blocks[b] == nil {
			h.blocks[b] = new([subBuckets]uint64)
		}
		for i, c := range blk {
			h.blocks[b][i] += c
		}
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Reset empties the histogram, keeping its blocks for the next values.
func (h *Histogram) Reset() {
	h.low = [subBuckets]uint64{}
	for _, blk := range h.blocks {
		if blk != nil {
			*blk = [subBuckets]uint64{}
		}
	}
	h.n, h.max = 0, 0
}
