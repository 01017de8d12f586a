package peers

import "math"

// sizer gives each message its size as a function of its sequence number
// and the seed: no state, so a message sent again on resume is the same.
type sizer struct {
	kind string
	avg  int
	max  int
	seed uint64
}

func newSizer(cfg *Config) sizer {
	if cfg.Sizes == nil || cfg.Sizes.Kind == SizeFixed || cfg.Sizes.Kind == "" {
		return sizer{kind: SizeFixed, avg: cfg.MessageSize, max: cfg.MessageSize}
	}
	d := cfg.Sizes
	mx := d.Max
	if mx <= 0 {
		mx = MaxMessageSize
	}
	return sizer{kind: d.Kind, avg: d.Mean, max: mx, seed: uint64(cfg.Seed)}
}

// mean is the mean message size (of the distribution before clipping).
func (s sizer) mean() int { return max(s.avg, HeaderSize) }

// size of message seq.
func (s sizer) size(seq uint64) int {
	if s.kind == SizeFixed {
		return s.avg
	}
	// splitmix64 of seed and seq: a uniform draw in [0, 1).
	z := s.seed + 0x9e3779b97f4a7c15*(seq+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	u := float64(z>>11) / (1 << 53)
	var v float64
	switch s.kind {
	case SizeUniform:
		lo := float64(HeaderSize)
		v = lo + u*2*(float64(s.avg)-lo)
	case SizeExponential:
		v = -math.Log(1-u) * float64(s.avg)
	}
	n := int(v + 0.5)
	return min(max(n, HeaderSize), s.max)
}
