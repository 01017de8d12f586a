package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/tcpinfo"
)

// timeline is the scenario's timeline plus the partition a vanishing
// receiver implies (its side goes dark until the end).
func (s *Scenario) timeline() []TimelineEntry {
	if s.Receiver.Vanish == nil {
		return s.Timeline
	}
	return append(slices.Clone(s.Timeline), TimelineEntry{At: *s.Receiver.Vanish, Partition: "both"})
}

// linkState is the link as the timeline has made it at some moment.
type linkState struct {
	link       Link
	blackholes map[string]bool // "down", "up"
	resets     map[string]bool // directions answered with RSTs (a reboot)
	linkDown   bool
}

// stateAt computes the link with the given timeline entries active (in
// their order in the file).
func (s *Scenario) stateAt(active []int) linkState {
	st := linkState{link: s.Link, blackholes: map[string]bool{}, resets: map[string]bool{}}
	for _, i := range active {
		e := s.timeline()[i]
		if e.Link != nil {
			st.link = st.link.apply(e.Link)
		}
		switch e.Partition {
		case "both":
			st.blackholes["down"], st.blackholes["up"] = true, true
		case "down", "up":
			st.blackholes[e.Partition] = true
		case "link-down":
			st.linkDown = true
		}
		switch e.Reboot {
		case "receiver": // packets to it get RSTs; its own go nowhere
			st.resets["down"], st.blackholes["up"] = true, true
		case "sender":
			st.resets["up"], st.blackholes["down"] = true, true
		}
	}
	return st
}

type timelineStep struct {
	at    time.Duration
	entry int
	start bool
}

// runTimeline applies the scenario's timeline to topo at its times, from
// start (monotonic ns) until ctx ends, recording each change in events.
func (s *Scenario) runTimeline(ctx context.Context, topo *netem.Topology, start int64, events io.Writer, mu *sync.Mutex, signal func(role string, sig syscall.Signal) error) error {
	var steps []timelineStep
	tl := s.timeline()
	for i, e := range tl {
		steps = append(steps, timelineStep{time.Duration(e.At), i, true})
		if e.For != nil {
			steps = append(steps, timelineStep{time.Duration(e.At) + time.Duration(*e.For), i, false})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	active := map[int]bool{}
	prev := s.stateAt(nil)
	for _, st := range steps {
		wait := time.Duration(start+int64(st.at)-tcpinfo.Monotonic()) * time.Nanosecond
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		active[st.entry] = st.start
		var idx []int
		for i := range tl {
			if active[i] {
				idx = append(idx, i)
			}
		}
		next := s.stateAt(idx)
		err := applyState(topo, prev, next)
		if e := tl[st.entry]; signal != nil && (e.Freeze != "" || e.Kill != "") {
			var serr error
			switch {
			case e.Kill != "" && st.start:
				serr = signal(e.Kill, syscall.SIGKILL)
			case e.Freeze != "" && st.start:
				serr = signal(e.Freeze, syscall.SIGSTOP)
			case e.Freeze != "":
				serr = signal(e.Freeze, syscall.SIGCONT)
			}
			err = errors.Join(err, serr)
		}
		prev = next
		verb := "start"
		if !st.start {
			verb = "end"
		}
		ev := peers.Event{T: tcpinfo.Monotonic() - start, Side: "link", Kind: peers.EventTimeline,
			Detail: fmt.Sprintf("timeline[%d] %s: %s", st.entry, verb, describeEntry(tl[st.entry]))}
		if err != nil {
			ev.Error = err.Error()
		}
		b, _ := json.Marshal(ev)
		mu.Lock()
		events.Write(append(b, '\n'))
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("timeline[%d]: %w", st.entry, err)
		}
	}
	return nil
}

func applyState(topo *netem.Topology, prev, next linkState) error {
	if prev.linkDown != next.linkDown {
		if err := topo.SetLinksUp(!next.linkDown); err != nil {
			return err
		}
	}
	pd, pu := prev.link.Impairments()
	nd, nu := next.link.Impairments()
	pd.Blackhole, pu.Blackhole = prev.blackholes["down"], prev.blackholes["up"]
	nd.Blackhole, nu.Blackhole = next.blackholes["down"], next.blackholes["up"]
	pd.ResetReply, pu.ResetReply = prev.resets["down"], prev.resets["up"]
	nd.ResetReply, nu.ResetReply = next.resets["down"], next.resets["up"]
	if fmt.Sprint(pd) != fmt.Sprint(nd) {
		if err := topo.SetImpairment(netem.Down, nd); err != nil {
			return err
		}
	}
	if fmt.Sprint(pu) != fmt.Sprint(nu) {
		if err := topo.SetImpairment(netem.Up, nu); err != nil {
			return err
		}
	}
	return nil
}

func describeEntry(e TimelineEntry) string {
	var parts []string
	if e.Partition != "" {
		parts = append(parts, "partition "+e.Partition)
	}
	if e.Reboot != "" {
		parts = append(parts, "reboot "+e.Reboot)
	}
	if e.Freeze != "" {
		parts = append(parts, "freeze "+e.Freeze+" (SIGSTOP)")
	}
	if e.Kill != "" {
		parts = append(parts, "kill "+e.Kill+" (SIGKILL)")
	}
	if c := e.Link; c != nil {
		for _, d := range []struct {
			n string
			v *Direction
		}{{"both", c.Both}, {"down", c.Down}, {"up", c.Up}} {
			if d.v != nil {
				parts = append(parts, d.n+" "+d.v.String())
			}
		}
	}
	if e.For != nil {
		parts = append(parts, "for "+e.For.String())
	}
	return strings.Join(parts, ", ")
}

// String describes the settings that are set, as a scenario would write them.
func (d Direction) String() string {
	var p []string
	add := func(k string, v fmt.Stringer) { p = append(p, k+" "+v.String()) }
	if d.Rate != nil {
		add("rate", *d.Rate)
	}
	if d.Delay != nil {
		add("delay", *d.Delay)
	}
	if d.Jitter != nil {
		add("jitter", *d.Jitter)
	}
	if d.Distribution != "" {
		p = append(p, "distribution "+d.Distribution)
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
