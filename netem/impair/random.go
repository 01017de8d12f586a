package impair

import "math"

// Rand is netem's pseudo-random source: a seeded xorshift-style generator
// (here SplitMix64) and netem's correlated draws (get_crandom). It allocates
// nothing.
type Rand struct{ s uint64 }

// NewRand seeds a generator; seed 0 is replaced by a fixed odd constant so
// runs with seed 0 are still repeatable within a process.
func NewRand(seed uint64) *Rand {
	if seed == 0 {
		seed = 0x9e3779b97f4a7c15
	}
	return &Rand{s: seed}
}

// Uint32 returns 32 random bits.
func (r *Rand) Uint32() uint32 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return uint32((z ^ (z >> 31)) >> 32)
}

// Correlated is netem's struct crndstate: a draw correlated with the last.
type Correlated struct {
	last uint32
	rho  uint32 // correlation scaled to 2^32
}

// SetCorrelation sets the correlation (0..1).
func (c *Correlated) SetCorrelation(rho float64) { c.rho = Prob32(rho) }

// Next returns the next correlated 32-bit draw, as netem's get_crandom.
func (c *Correlated) Next(r *Rand) uint32 {
	v := r.Uint32()
	if c.rho == 0 {
		return v
	}
	rho := uint64(c.rho) + 1 // netem scales with rho + 1 so that 100% holds
	out := uint32((uint64(v)*((1<<32)-rho) + uint64(c.last)*rho) >> 32)
	c.last = out
	return out
}

// Prob32 scales a probability to netem's u32 (1.0 → 2^32-1).
func Prob32(p float64) uint32 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return math.MaxUint32
	}
	return uint32(math.Round(p * (1 << 32)))
}

// Hit reports whether a draw falls under probability p32 (netem: p >= draw).
func Hit(p32, draw uint32) bool { return p32 != 0 && p32 >= draw }

// Std is the standard deviation of the jitter a distribution produces for
// jitter j: netem's uniform spreads over [-j, j] (σ = j/√3); its tables hold
// distributions of σ 1 in units of j, cut at ±4 (int16 entries scaled by
// 8192), which leaves normal at σ ≈ j but trims the Pareto tails: pareto
// gives σ ≈ 0.74 j, paretonormal ≈ 0.84 j.
func Std(d Distribution, j float64) float64 {
	if d == "" || d == Uniform {
		return j / math.Sqrt(3)
	}
	return j * clippedStd[d]
}

// clipAt is the largest table value netem can hold: 32767 / 8192 σ.
const clipAt = 32767.0 / 8192

func clip(v float64) float64 { return math.Max(-clipAt, math.Min(clipAt, v)) }

var clippedStd = func() map[Distribution]float64 {
	out := map[Distribution]float64{}
	for _, d := range []Distribution{Normal, Pareto, ParetoNormal} {
		const n = 1 << 16
		var s, s2 float64
		for i := 0; i < n; i++ {
			v := Jitter(d, uint32((float64(i)+0.5)/n*(1<<32)), 1)
			s += v
			s2 += v * v
		}
		m := s / n
		out[d] = math.Sqrt(s2/n - m*m)
	}
	return out
}()

// Jitter turns a uniform 32-bit draw into an offset with distribution d and
// scale j (seconds or any unit): uniform in [-j, j); normal, pareto and
// paretonormal through their inverse CDFs with mean 0 and σ 1 in units of
// j, cut at ±4 j as netem's tables (iproute2's maketable, pareto and
// paretonormal, int16 entries scaled by 8192) are.
func Jitter(d Distribution, u uint32, j float64) float64 {
	x := (float64(u) + 0.5) / (1 << 32) // (0,1)
	switch d {
	case Normal:
		return j * clip(normInv(x))
	case Pareto:
		return j * clip(paretoStd(x))
	case ParetoNormal:
		// iproute2's paretonormal table mixes the two at the same quantile:
		// 1/4 normal, 3/4 pareto.
		return j * clip((0.25*normInv(x)+0.75*paretoStd(x))/paretoNormalStd)
	}
	return j * (2*x - 1)
}

func normInv(x float64) float64 { return math.Sqrt2 * math.Erfinv(2*x-1) }

// paretoStd is the Pareto distribution with shape 3 (iproute2's pareto
// table), shifted to mean 0 and scaled to σ 1.
func paretoStd(x float64) float64 {
	const a = 3.0
	v := math.Pow(1-x, -1/a) // xm = 1: mean 1.5, σ = sqrt(3)/2
	return (v - 1.5) / (math.Sqrt(3) / 2)
}

// paretoNormalStd normalises the mixture to σ 1 (computed numerically once).
var paretoNormalStd = func() float64 {
	const n = 1 << 16
	var s, s2 float64
	for i := 0; i < n; i++ {
		x := (float64(i) + 0.5) / n
		v := 0.25*normInv(x) + 0.75*paretoStd(x)
		s += v
		s2 += v * v
	}
	m := s / n
	return math.Sqrt(s2/n - m*m)
}()
