package scenario

import (
	"reflect"
	"time"

	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario/units"
)

// overlay returns base with every field set in over laid on top.
func overlay(base Direction, over *Direction) Direction {
	if over == nil {
		return base
	}
	b := reflect.ValueOf(&base).Elem()
	o := reflect.ValueOf(over).Elem()
	for i := 0; i < o.NumField(); i++ {
		f := o.Field(i)
		if !f.IsZero() {
			b.Field(i).Set(f)
		}
	}
	return base
}

// Resolve returns the settings of direction dir ("down" or "up"): both,
// overridden field by field by the direction's own.
func (l Link) Resolve(dir string) Direction {
	d := overlay(Direction{}, l.Both)
	if dir == "down" {
		return overlay(d, l.Down)
	}
	return overlay(d, l.Up)
}

// apply lays a timeline change over the link (returns a new Link).
func (l Link) apply(c *Change) Link {
	if c == nil {
		return l
	}
	out := l
	down, up := l.Resolve("down"), l.Resolve("up")
	down = overlay(overlay(down, c.Both), c.Down)
	up = overlay(overlay(up, c.Both), c.Up)
	out.Both, out.Down, out.Up = nil, &down, &up
	return out
}

func pct(p *units.Percent) float64 {
	if p == nil {
		return 0
	}
	return float64(*p) / 100
}

func dur(d *units.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

// Impairment converts a direction's settings to the backends' model.
func (d Direction) Impairment(seed uint64) impair.Impairment {
	im := impair.Impairment{
		Delay:                dur(d.Delay),
		Jitter:               dur(d.Jitter),
		Distribution:         impair.Distribution(d.Distribution),
		DelayCorrelation:     pct(d.DelayCorrelation),
		Loss:                 pct(d.Loss),
		LossCorrelation:      pct(d.LossCorrelation),
		Duplicate:            pct(d.Duplicate),
		DuplicateCorrelation: pct(d.DuplicateCorrelation),
		Corrupt:              pct(d.Corrupt),
		CorruptCorrelation:   pct(d.CorruptCorrelation),
		Seed:                 seed,
	}
	if d.Rate != nil {
		im.RateBits = uint64(*d.Rate)
	}
	if d.Overhead != nil {
		im.Overhead = int32(*d.Overhead)
	}
	if d.Queue != nil {
		im.Limit = uint32(*d.Queue)
	}
	if g := d.GilbertElliott; g != nil {
		ge := &impair.GilbertElliott{P: float64(g.P) / 100, R: float64(g.R) / 100, OneMinusH: 1, OneMinusK: 0}
		if g.OneMinusH != nil {
			ge.OneMinusH = pct(g.OneMinusH)
		}
		if g.OneMinusK != nil {
			ge.OneMinusK = pct(g.OneMinusK)
		}
		im.GE = ge
	}
	if r := d.Reorder; r != nil {
		im.Reorder = &impair.Reorder{Probability: float64(r.Probability) / 100, Correlation: pct(r.Correlation), Gap: 1}
		if r.Gap != nil {
			im.Reorder.Gap = uint32(*r.Gap)
		}
	}
	return im
}

// Impairments returns the down and up impairments of the link. The up
// direction's seed differs from the down one's so the two are independent.
func (l Link) Impairments() (down, up impair.Impairment) {
	var seed uint64
	if l.Seed != nil {
		seed = uint64(*l.Seed)
	}
	down = l.Resolve("down").Impairment(seed)
	up = l.Resolve("up").Impairment(seed * 31)
	return down, up
}
