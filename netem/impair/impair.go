// Package impair holds the impairment model of one link direction with the
// meaning of Linux netem (sch_netem.c), the one definition both backends
// implement: the kernel backend encodes it as a netem qdisc, the userspace
// backend schedules packets by it. It holds data and its validation only.
package impair

import (
	"fmt"
	"time"

	"github.com/tcplab/tcplab/internal/vocab"
)

// Dir is one direction of the link: Down carries the sender's data to the
// receiver, Up carries the receiver's ACKs (and data) back.
type Dir string

// The two directions.
const (
	Down Dir = "down"
	Up   Dir = "up"
)

// Dirs is the one table of directions.
var Dirs = []Dir{Down, Up}

// MarshalText writes the direction's name.
func (d Dir) MarshalText() ([]byte, error) { return []byte(d), nil }

// UnmarshalText reads a direction's name and refuses any other text.
func (d *Dir) UnmarshalText(b []byte) error { return vocab.Parse(d, Dirs, string(b), "direction") }

// MarshalText writes the distribution's name.
func (d Distribution) MarshalText() ([]byte, error) { return []byte(d), nil }

// UnmarshalText reads a distribution's name (empty: netem's default) and
// refuses any other text.
func (d *Distribution) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = ""
		return nil
	}
	return vocab.Parse(d, Distributions, string(b), "distribution")
}

// Distribution of the jitter around the delay.
type Distribution string

// Distributions, as netem's tables name them. The empty value is netem's
// default: uniform.
const (
	Uniform      Distribution = "uniform"
	Normal       Distribution = "normal"
	Pareto       Distribution = "pareto"
	ParetoNormal Distribution = "paretonormal"
)

// Distributions lists the accepted distribution names.
var Distributions = []Distribution{Uniform, Normal, Pareto, ParetoNormal}

// GilbertElliott is netem's 4-parameter Gilbert-Elliott loss model
// (`loss gemodel p r 1-h 1-k`): P moves good→bad, R bad→good, a packet is
// lost with probability 1-H in the bad state and 1-K in the good state. All
// are probabilities in 0..1. The mean loss burst (with 1-H = 1, 1-K = 0) is
// 1/R packets.
type GilbertElliott struct {
	P, R                 float64
	OneMinusH, OneMinusK float64
}

// Reorder sends a packet at once, ahead of delayed ones, with Probability
// (correlated by Correlation), every Gap-th packet at most (netem `reorder P
// C gap G`). It needs a delay to have any effect.
type Reorder struct {
	Probability, Correlation float64
	Gap                      uint32
}

// Impairment is one direction of a link. The zero value forwards untouched.
// Probabilities are 0..1.
type Impairment struct {
	Delay        time.Duration // one way
	Jitter       time.Duration
	Distribution Distribution
	// DelayCorrelation correlates each jitter draw with the previous one.
	DelayCorrelation float64

	Loss            float64 // random loss probability
	LossCorrelation float64
	// GE, when set, replaces random loss.
	GE *GilbertElliott

	Duplicate, DuplicateCorrelation float64
	Reorder                         *Reorder
	Corrupt, CorruptCorrelation     float64

	// RateBits limits the direction (bits/s, 0 = none); Overhead bytes are
	// added to every packet's length when computing its serialisation time
	// (netem `rate R overhead O`; counted per segment in userspace).
	RateBits uint64
	Overhead int32
	// Trace, when set, delivers the direction at a mahimahi trace's
	// opportunities instead of a fixed rate (userspace link only).
	Trace *Trace
	// TraceStart is when the trace's time 0 is (CLOCK_MONOTONIC ns; 0:
	// when the impairment is set). The lab sets it to the run's start.
	TraceStart int64
	// Limit bounds the queue in packets (netem's limit; 0 means the default
	// 1000, never sent to the kernel as 0, which would drop everything).
	Limit uint32
	// Seed makes random decisions repeatable (0: random).
	Seed uint64
	// Blackhole drops everything (a partition of this direction).
	Blackhole bool
	// ResetReply drops everything and answers each TCP packet with an RST
	// to its sender, as a host that rebooted and lost its connections does
	// (userspace link only).
	ResetReply bool
}

// DefaultLimit is netem's default queue limit in packets.
const DefaultLimit = 1000

// QueueLimit is Limit with the default applied.
func (im *Impairment) QueueLimit() uint32 {
	if im.Limit == 0 {
		return DefaultLimit
	}
	return im.Limit
}

// IsZero reports whether the impairment does nothing.
func (im *Impairment) IsZero() bool {
	return im.Delay == 0 && im.Jitter == 0 && im.Loss == 0 && im.GE == nil && im.Duplicate == 0 &&
		im.Reorder == nil && im.Corrupt == 0 && im.RateBits == 0 && im.Trace == nil && !im.Blackhole && !im.ResetReply
}

// Validate checks ranges and combinations.
func (im *Impairment) Validate() error {
	prob := func(name string, v float64) error {
		if v < 0 || v > 1 || v != v {
			return fmt.Errorf("%s %v outside 0..1", name, v)
		}
		return nil
	}
	for _, p := range []struct {
		n string
		v float64
	}{{"delay correlation", im.DelayCorrelation}, {"loss", im.Loss}, {"loss correlation", im.LossCorrelation},
		{"duplicate", im.Duplicate}, {"duplicate correlation", im.DuplicateCorrelation}, {"corrupt", im.Corrupt}, {"corrupt correlation", im.CorruptCorrelation}} {
		if err := prob(p.n, p.v); err != nil {
			return err
		}
	}
	if im.Delay < 0 || im.Jitter < 0 {
		return fmt.Errorf("negative delay or jitter")
	}
	if im.Delay > time.Hour || im.Jitter > time.Hour {
		return fmt.Errorf("delay or jitter above 1h")
	}
	if im.Jitter > 0 && im.Jitter > im.Delay && im.Distribution != "" && im.Distribution != Uniform {
		// netem clamps negative delays to 0; allowed but rarely meant.
	}
	switch im.Distribution {
	case "", Uniform, Normal, Pareto, ParetoNormal:
	default:
		return fmt.Errorf("unknown distribution %q (accepted: %v)", im.Distribution, Distributions)
	}
	if t := im.Trace; t != nil {
		if im.RateBits != 0 {
			return fmt.Errorf("a rate and a trace at once (the trace is the rate)")
		}
		if len(t.At) == 0 || t.Period <= 0 {
			return fmt.Errorf("trace %s: no delivery opportunity or no length", t.Name)
		}
	}
	if im.GE != nil {
		if im.Loss != 0 {
			return fmt.Errorf("random loss and a Gilbert-Elliott model at once")
		}
		for _, p := range []struct {
			n string
			v float64
		}{{"gilbert_elliott.p", im.GE.P}, {"gilbert_elliott.r", im.GE.R}, {"gilbert_elliott.1-h", im.GE.OneMinusH}, {"gilbert_elliott.1-k", im.GE.OneMinusK}} {
			if err := prob(p.n, p.v); err != nil {
				return err
			}
		}
	}
	if r := im.Reorder; r != nil {
		if err := prob("reorder probability", r.Probability); err != nil {
			return err
		}
		if err := prob("reorder correlation", r.Correlation); err != nil {
			return err
		}
		if im.Delay == 0 {
			return fmt.Errorf("reorder needs a delay (packets are reordered by sending some without it)")
		}
	}
	if im.Overhead < -1500 || im.Overhead > 1500 {
		return fmt.Errorf("overhead %d outside -1500..1500 bytes", im.Overhead)
	}
	return nil
}
