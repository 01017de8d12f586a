package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
)

type timelineStep struct {
	at    time.Duration
	entry int
	start bool
}

// runTimeline applies the scenario's timeline to topo at its times, from
// start (monotonic ns) until ctx ends, recording each change in events.
func runTimeline(s *scenario.Scenario, ctx context.Context, topo *netem.Topology, start int64, events io.Writer, mu *sync.Mutex, signal func(role string, sig syscall.Signal) error) error {
	// A trace's time 0 is the run's: the link, built before the peers were
	// ready, starts its traces again at start.
	down, up := s.Link.Impairments()
	for _, x := range []struct {
		dir impair.Dir
		im  impair.Impairment
	}{{impair.Down, down}, {impair.Up, up}} {
		if x.im.Trace != nil {
			x.im.TraceStart = start
			if err := topo.SetImpairment(x.dir, x.im); err != nil {
				return fmt.Errorf("start the %s trace: %w", x.dir, err)
			}
		}
	}
	var steps []timelineStep
	tl := s.EffectiveTimeline()
	for i, e := range tl {
		steps = append(steps, timelineStep{time.Duration(e.At), i, true})
		if e.For != nil {
			steps = append(steps, timelineStep{time.Duration(e.At) + time.Duration(*e.For), i, false})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	active := map[int]bool{}
	prev := s.LinkAt(nil)
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
		next := s.LinkAt(idx)
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
		ev := peers.Event{T: tcpinfo.Monotonic() - start, Side: record.SideLink, Kind: peers.EventTimeline,
			Detail: fmt.Sprintf("timeline[%d] %s: %s", st.entry, verb, describeEntry(tl[st.entry])),
			Step:   &record.TimelineStep{Entry: st.entry, Start: st.start, Change: changeOf(tl[st.entry])}}
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

func applyState(topo *netem.Topology, prev, next scenario.LinkState) error {
	if prev.LinkDown != next.LinkDown {
		if err := topo.SetLinksUp(!next.LinkDown); err != nil {
			return err
		}
	}
	pd, pu := prev.Link.Impairments()
	nd, nu := next.Link.Impairments()
	pd.Blackhole, pu.Blackhole = prev.Blackholes[impair.Down], prev.Blackholes[impair.Up]
	nd.Blackhole, nu.Blackhole = next.Blackholes[impair.Down], next.Blackholes[impair.Up]
	pd.ResetReply, pu.ResetReply = prev.Resets[impair.Down], prev.Resets[impair.Up]
	nd.ResetReply, nu.ResetReply = next.Resets[impair.Down], next.Resets[impair.Up]
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

// changeOf is what a timeline entry changes.
func changeOf(e scenario.TimelineEntry) record.ChangeKind {
	switch {
	case e.Partition != "":
		return record.ChangePartition
	case e.Reboot != "":
		return record.ChangeReboot
	case e.Freeze != "":
		return record.ChangeFreeze
	case e.Kill != "":
		return record.ChangeKill
	}
	return record.ChangeLink
}

func describeEntry(e scenario.TimelineEntry) string {
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
			v *scenario.Direction
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
