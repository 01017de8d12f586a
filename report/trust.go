package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// TrustLevel is how far a run's verdict can be believed, judged from the
// lab's own health: ok; doubtful (the lab strained, the figures say how);
// distorted (the lab bent the path it was asked to emulate, or sampled too
// little to judge: the run cannot pass).
type TrustLevel string

// The trust levels, from best to worst.
const (
	TrustOK        TrustLevel = "ok"
	TrustDoubtful  TrustLevel = "doubtful"
	TrustDistorted TrustLevel = "distorted"
)

// TrustLevels is the one table of trust levels, from best to worst.
var TrustLevels = []TrustLevel{TrustOK, TrustDoubtful, TrustDistorted}

// MarshalText writes the level's name.
func (l TrustLevel) MarshalText() ([]byte, error) { return []byte(l), nil }

// UnmarshalText reads a level's name and refuses any other text.
func (l *TrustLevel) UnmarshalText(b []byte) error {
	return vocab.Parse(l, TrustLevels, string(b), "trust level")
}

func (l TrustLevel) rank() int {
	for i, x := range TrustLevels {
		if x == l {
			return i
		}
	}
	return 0
}

// TrustKind is what a trust reason measured.
type TrustKind string

// The kinds of trust reasons.
const (
	TrustLinkLate  TrustKind = "link_lateness" // the userspace link released packets behind schedule
	TrustCoverage  TrustKind = "sample_coverage"
	TrustCPU       TrustKind = "cpu_pressure"
	TrustSteal     TrustKind = "cpu_steal"
	TrustSelfCheck TrustKind = "self_check"
	TrustWire      TrustKind = "wire_missed"
	// TrustLabBottleneck: the userspace link, with nothing configured on
	// the data's direction, was what limited the sender.
	TrustLabBottleneck TrustKind = "lab_bottleneck"
)

// TrustKinds is the one table of trust reasons' kinds.
var TrustKinds = []TrustKind{TrustLinkLate, TrustLabBottleneck, TrustCoverage, TrustCPU, TrustSteal, TrustSelfCheck, TrustWire}

// MarshalText writes the kind's name.
func (k TrustKind) MarshalText() ([]byte, error) { return []byte(k), nil }

// UnmarshalText reads a kind's name and refuses any other text.
func (k *TrustKind) UnmarshalText(b []byte) error {
	return vocab.Parse(k, TrustKinds, string(b), "trust reason")
}

// Trust is the lab's verdict on itself, with each reason and its figure.
type Trust struct {
	Level   TrustLevel    `json:"level"`
	Reasons []TrustReason `json:"reasons"`
	// Coverage is the share of the samplers' ticks that gave a sample, over
	// the sockets sampled for at least ten ticks (-1: none), and the
	// largest gap between two samples of one socket.
	Coverage     float64 `json:"sample_coverage"`
	LargestGapMs float64 `json:"largest_sample_gap_ms"`
	// LargestGapAtS is when that gap began (s since the run's start).
	LargestGapAtS float64 `json:"largest_sample_gap_at_s,omitempty"`
}

// TrustReason is one figure that made the run less than ok.
type TrustReason struct {
	Kind   TrustKind  `json:"kind"`
	Level  TrustLevel `json:"level"`
	Figure float64    `json:"figure"`
	Limit  float64    `json:"limit"`
	Text   string     `json:"text"`
	Advice string     `json:"advice"`
}

// The thresholds (docs/verdict.md, "Trust"). Lateness is the userspace
// link's release behind schedule: a median above the larger of 1 ms and a
// tenth of the configured one-way delay means the typical packet did not
// see the path asked for.
const (
	lateP50Floor      = 1.0 // ms
	lateP50Share      = 0.10
	lateP99Floor      = 5.0 // ms
	lateP99Share      = 0.25
	coverageDoubtful  = 0.90
	coverageDistorted = 0.50
	pressureDoubtful  = 0.80
	stealDoubtful     = 0.10
	coverageMinTicks  = 10
)

// judgeTrust measures the lab's health from what the run recorded.
// A run recorded before tcplab judged its lab (no sample interval in its
// meta) is not judged: its report.json renders again byte for byte.
func (sum *Summary) judgeTrust(samples []tcpinfo.Sample) {
	if sum.Meta.SampleIntervalS == 0 {
		return
	}
	t := &Trust{Level: TrustOK, Reasons: []TrustReason{}, Coverage: -1}
	add := func(r TrustReason) {
		t.Reasons = append(t.Reasons, r)
		if r.Level.rank() > t.Level.rank() {
			t.Level = r.Level
		}
	}
	m := &sum.Meta
	if l := m.Link; l != nil {
		for _, d := range []struct {
			name string
			dir  record.LinkDirection
		}{{"down", l.Down}, {"up", l.Up}} {
			c := d.dir.Counters
			if c == nil || c.Forwarded == 0 {
				continue
			}
			p50 := math.Max(lateP50Floor, lateP50Share*d.dir.DelayMs)
			p99 := math.Max(lateP99Floor, lateP99Share*d.dir.DelayMs)
			advice := "the lab's CPU held packets: run fewer sweep points at once (--parallel), ask a lower rate, or use the kernel backend"
			switch {
			case c.LatenessP50 > p50:
				add(TrustReason{Kind: TrustLinkLate, Level: TrustDistorted, Figure: c.LatenessP50, Limit: p50, Advice: advice,
					Text: fmt.Sprintf("the userspace link released the %s direction's packets %.2f ms late at the median (limit %.2f ms; configured delay %.1f ms): the path measured is not the one asked for", d.name, c.LatenessP50, p50, d.dir.DelayMs)})
			case c.LatenessP99 > p99:
				add(TrustReason{Kind: TrustLinkLate, Level: TrustDoubtful, Figure: c.LatenessP99, Limit: p99, Advice: advice,
					Text: fmt.Sprintf("the userspace link released 1%% of the %s direction's packets more than %.2f ms late (limit %.2f ms)", d.name, c.LatenessP99, p99)})
			}
		}
		data := l.Down // the direction the verdict's data took
		for _, c := range sum.Connections {
			if c.Conn == sum.VerdictConn && c.DataFrom == record.RoleReceiver {
				data = l.Up
			}
		}
		if data.Counters != nil && data.Unimpaired && !l.Timeline && sum.Verdict.Class == NetworkLimited {
			// No rate asked, yet the network held the sender: the only
			// bottleneck on the path is the emulator's own capacity.
			advice := "set the rate you mean to test (link.down.rate), or use the kernel backend for an unlimited path"
			switch sum.Verdict.SubCause {
			case SubQueueing:
				add(TrustReason{Kind: TrustLabBottleneck, Level: TrustDistorted, Figure: sum.Path.GoodputBits / 1e6, Advice: advice,
					Text: fmt.Sprintf("the userspace link queued packets no rate asked for (network-limited by queueing at %.0f Mbit/s with no rate configured): the bottleneck is the lab's own", sum.Path.GoodputBits/1e6)})
			case SubRate:
				add(TrustReason{Kind: TrustLabBottleneck, Level: TrustDoubtful, Figure: sum.Path.GoodputBits / 1e6, Advice: advice,
					Text: fmt.Sprintf("network-limited at %.0f Mbit/s with no rate configured: the limit may be the userspace link's own capacity", sum.Path.GoodputBits/1e6)})
			}
		}
		if w := l.Wire; w != nil && (w.MissedPackets > 0 || w.Untracked > 0) {
			add(TrustReason{Kind: TrustWire, Level: TrustDoubtful, Figure: float64(w.MissedPackets), Advice: "set link.wire: false if the lifecycle is not needed, or lower the rate",
				Text: fmt.Sprintf("the wire missed %d packets and followed not %d connections: the lifecycle figures are lower bounds", w.MissedPackets, w.Untracked)})
		}
	}
	{
		t.Coverage, t.LargestGapMs, t.LargestGapAtS = coverage(samples, int64(m.SampleIntervalS*1e9))
		advice := "sample less often (a longer sample_interval) or sample fewer connections"
		switch {
		case t.Coverage >= 0 && t.Coverage < coverageDistorted:
			add(TrustReason{Kind: TrustCoverage, Level: TrustDistorted, Figure: t.Coverage, Limit: coverageDistorted, Advice: advice,
				Text: fmt.Sprintf("the samplers took %.0f%% of their ticks (largest gap %.0f ms): too few samples to judge", 100*t.Coverage, t.LargestGapMs)})
		case t.Coverage >= 0 && t.Coverage < coverageDoubtful:
			add(TrustReason{Kind: TrustCoverage, Level: TrustDoubtful, Figure: t.Coverage, Limit: coverageDoubtful, Advice: advice,
				Text: fmt.Sprintf("the samplers took %.0f%% of their ticks (largest gap %.0f ms)", 100*t.Coverage, t.LargestGapMs)})
		}
	}
	if h := m.Host; h != nil {
		if h.CPUPressure > pressureDoubtful {
			add(TrustReason{Kind: TrustCPU, Level: TrustDoubtful, Figure: h.CPUPressure, Limit: pressureDoubtful, Advice: "run fewer sweep points at once, or on a host with more cores",
				Text: fmt.Sprintf("some task waited for a CPU %.0f%% of the run (PSI)", 100*h.CPUPressure)})
		}
		if h.Steal > stealDoubtful {
			add(TrustReason{Kind: TrustSteal, Level: TrustDoubtful, Figure: h.Steal, Limit: stealDoubtful, Advice: "repeat the run; the host is shared",
				Text: fmt.Sprintf("the hypervisor took %.0f%% of the CPU time (steal)", 100*h.Steal)})
		}
	}
	for _, c := range sum.SelfCheck {
		if !c.OK {
			add(TrustReason{Kind: TrustSelfCheck, Level: TrustDoubtful, Figure: c.Deviation, Advice: "compare the path's figures with care",
				Text: fmt.Sprintf("link self-check: %s configured %s, measured %s", c.What, c.Configured, c.Measured)})
		}
	}
	sum.Trust = t
	if t.Level == TrustDistorted {
		for i := range sum.Expectations {
			sum.Expectations[i].Untrusted = true
		}
	}
}

// coverage is the share of ticks that gave a sample, over the sockets
// (side and connection) sampled for at least coverageMinTicks ticks, the
// largest gap between two samples of one of them (ms), and when it began (s).
func coverage(samples []tcpinfo.Sample, interval int64) (float64, float64, float64) {
	type key struct {
		side string
		conn int
	}
	times := map[key][]int64{}
	for i := range samples {
		k := key{samples[i].Side, samples[i].Conn}
		times[k] = append(times[k], samples[i].T)
	}
	var got, want float64
	var gap, gapAt int64
	for _, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		span := ts[len(ts)-1] - ts[0]
		if span < coverageMinTicks*interval {
			continue
		}
		got += float64(len(ts))
		want += float64(span/interval + 1)
		for i := 1; i < len(ts); i++ {
			if d := ts[i] - ts[i-1]; d > gap {
				gap, gapAt = d, ts[i-1]
			}
		}
	}
	if want == 0 {
		return -1, 0, 0
	}
	return math.Min(1, got/want), float64(gap) / 1e6, float64(gapAt) / 1e9
}

// trustText is the trust line of the text and Markdown reports.
func trustText(t *Trust, m *record.Meta) string {
	if t == nil {
		return ""
	}
	if len(t.Reasons) == 0 && m.Watch != nil {
		return "TRUST: ok — the samples covered the watch"
	}
	if len(t.Reasons) == 0 {
		return "TRUST: ok — the lab kept the path it was asked for"
	}
	var texts []string
	for _, r := range t.Reasons {
		texts = append(texts, r.Text)
	}
	head := "TRUST: " + string(t.Level)
	if t.Level == TrustDistorted {
		head += " — this run cannot pass; its expectations are not trusted"
	}
	return head + "\n  - " + strings.Join(texts, "\n  - ")
}
