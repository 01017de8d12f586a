package scenario

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario/units"
)

// Overlay returns base with every field set in over laid on top.
func Overlay(base Direction, over *Direction) Direction {
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
func (l Link) Resolve(dir impair.Dir) Direction {
	d := Overlay(Direction{}, l.Both)
	if dir == impair.Down {
		return Overlay(d, l.Down)
	}
	return Overlay(d, l.Up)
}

// Apply lays a timeline change over the link (returns a new Link).
func (l Link) Apply(c *Change) Link {
	if c == nil {
		return l
	}
	out := l
	down, up := l.Resolve(impair.Down), l.Resolve(impair.Up)
	down = Overlay(Overlay(down, c.Both), c.Down)
	up = Overlay(Overlay(up, c.Both), c.Up)
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
		Distribution:         d.Distribution,
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
	im.Trace = d.TraceData
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
	down = l.Resolve(impair.Down).Impairment(seed)
	up = l.Resolve(impair.Up).Impairment(seed * 31)
	return down, up
}

// EffectiveTimeline is the scenario's timeline plus the partition a vanishing
// receiver implies (its side goes dark until the end).
func (s *Scenario) EffectiveTimeline() []TimelineEntry {
	if s.Receiver.Vanish == nil {
		return s.Timeline
	}
	return append(slices.Clone(s.Timeline), TimelineEntry{At: *s.Receiver.Vanish, Partition: "both"})
}

// LinkState is the link as the timeline has made it at some moment.
type LinkState struct {
	Link       Link
	Blackholes map[impair.Dir]bool
	Resets     map[impair.Dir]bool // directions answered with RSTs (a reboot)
	LinkDown   bool
}

// LinkAt computes the link with the given timeline entries active (in
// their order in the file).
func (s *Scenario) LinkAt(active []int) LinkState {
	st := LinkState{Link: s.Link, Blackholes: map[impair.Dir]bool{}, Resets: map[impair.Dir]bool{}}
	for _, i := range active {
		e := s.EffectiveTimeline()[i]
		if e.Link != nil {
			st.Link = st.Link.Apply(e.Link)
		}
		switch e.Partition {
		case "both":
			st.Blackholes[impair.Down], st.Blackholes[impair.Up] = true, true
		case "down", "up":
			st.Blackholes[impair.Dir(e.Partition)] = true
		case "link-down":
			st.LinkDown = true
		}
		switch e.Reboot {
		case "receiver": // packets to it get RSTs; its own go nowhere
			st.Resets[impair.Down], st.Blackholes[impair.Up] = true, true
		case "sender":
			st.Resets[impair.Up], st.Blackholes[impair.Down] = true, true
		}
	}
	return st
}

// String describes the settings that are set, as a scenario would write them.
func (d Direction) String() string {
	var p []string
	add := func(k string, v fmt.Stringer) { p = append(p, k+" "+v.String()) }
	if d.Rate != nil {
		add("rate", *d.Rate)
	}
	if t := d.TraceData; t != nil {
		p = append(p, fmt.Sprintf("trace %s (mean %.3g Mbit/s over %.3g s, looping)", t.Name, t.MeanBits()/1e6, float64(t.Period)/1e9))
	}
	if d.Delay != nil {
		add("delay", *d.Delay)
	}
	if d.Jitter != nil {
		add("jitter", *d.Jitter)
	}
	if d.Distribution != "" {
		p = append(p, "distribution "+string(d.Distribution))
	}
	if d.Loss != nil {
		add("loss", *d.Loss)
	}
	if g := d.GilbertElliott; g != nil {
		p = append(p, fmt.Sprintf("gilbert_elliott p %v r %v", g.P, g.R))
	}
	if d.Duplicate != nil {
		add("duplicate", *d.Duplicate)
	}
	if d.Reorder != nil {
		add("reorder", d.Reorder.Probability)
	}
	if d.Corrupt != nil {
		add("corrupt", *d.Corrupt)
	}
	if d.Queue != nil {
		p = append(p, fmt.Sprintf("queue %d", *d.Queue))
	}
	if len(p) == 0 {
		return "unimpaired"
	}
	return strings.Join(p, ", ")
}
