package report

import (
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// Charts are the series report.html draws, computed from the recorded
// samples and events when the Summary is built. They are not part of
// report.json (json:"-"): the samples are.
type Charts struct {
	// DurationS is the time axis' length.
	DurationS float64
	// Spans are the timeline's entries, shaded on every chart.
	Spans []ChartSpan
	// Marks are the disconnects, a dashed line on every chart.
	Marks []ChartMark
	// The charts, each a list of series over time.
	Throughput, Lag, Windows, RTT, Retransmits []Series
}

// Series is one line of a chart.
type Series struct {
	Name, Colour string
	X, Y         []float64
	// Step draws it as steps (counts per bin).
	Step bool
}

// ChartSpan is a shaded stretch of the time axis: one timeline entry.
type ChartSpan struct {
	From, To float64
	Label    string
	Change   record.ChangeKind
}

// ChartMark is a vertical line at a time: a disconnect, or where the lab's
// trust in the run was hurt (Trust: the samplers' largest gap).
type ChartMark struct {
	T     float64
	Label string
	Trust bool
}

// buildCharts computes the charts of a run from its records: the samples by
// side and connection, each in time order (samplesByConn), and the events.
func buildCharts(s *Summary, sndBy, rcvBy map[int][]tcpinfo.Sample, events []record.Event) *Charts {
	dur := s.Meta.DurationS
	if dur <= 0 {
		dur = 1
	}
	c := &Charts{DurationS: dur, Spans: timelineSpans(events, dur)}
	for _, d := range s.Disconnects {
		c.Marks = append(c.Marks, ChartMark{T: d.T, Label: fmt.Sprintf("%.3fs conn %d: %s noticed %s", d.T, d.Conn, d.Side, d.Error)})
	}
	// The samplers' largest gap is marked when ticks were missed around it
	// (more than three intervals without a sample).
	if t := s.Trust; t != nil && t.LargestGapAtS > 0 && t.LargestGapMs > 3000*s.Meta.SampleIntervalS {
		c.Marks = append(c.Marks, ChartMark{T: t.LargestGapAtS, Trust: true,
			Label: fmt.Sprintf("%.3fs: the samplers' largest gap, %.0f ms without a sample (trust %s)", t.LargestGapAtS, t.LargestGapMs, t.Level)})
	}
	snd, rcv := sndBy[s.VerdictConn], rcvBy[s.VerdictConn]
	// A bin holds at least two sampling intervals, so no bin is empty by chance.
	bins := 200
	if n := len(snd); n > 1 {
		every := float64(snd[n-1].T-snd[0].T) / 1e9 / float64(n-1)
		bins = max(10, min(200, int(dur/(2*every))))
	}
	binW := dur / float64(bins)
	// Throughput is a rate per classification window: per sampling bin,
	// the acked bytes of a bulk sender come in bursts of whole GSO chunks
	// and drew spikes from zero to twice the rate.
	tbins := bins
	if w := s.Meta.WindowS; w > 0 {
		tbins = max(1, min(bins, int(math.Round(dur/w))))
	}
	c.Throughput = throughputSeries(sndBy, rcvBy, tbins, dur/float64(tbins))
	c.Lag = lagSeries(s.LagOverTime)
	c.Windows, c.RTT, c.Retransmits = connectionSeries(snd, rcv, bins, binW)
	return c
}

// throughputSeries is bytes acked by every sending socket and bytes
// received by every receiving one, per bin, in Mbit/s.
func throughputSeries(sndBy, rcvBy map[int][]tcpinfo.Sample, bins int, binW float64) []Series {
	perBin := func(byConn map[int][]tcpinfo.Sample, count func(*tcpinfo.Info) uint64) []float64 {
		out := make([]float64, bins)
		for _, ss := range byConn {
			for i := 1; i < len(ss); i++ {
				a, c := count(&ss[i-1].Info), count(&ss[i].Info)
				if k := int(float64(ss[i].T) / 1e9 / binW); k >= 0 && k < bins && c >= a {
					out[k] += float64(c - a)
				}
			}
		}
		return out
	}
	acked := perBin(sndBy, func(i *tcpinfo.Info) uint64 { return i.BytesAcked })
	received := perBin(rcvBy, func(i *tcpinfo.Info) uint64 { return i.BytesReceived })
	thr := Series{Name: "acked (sender, all connections)", Colour: "#4c78a8", Step: true}
	rth := Series{Name: "received (receiver, all connections)", Colour: "#54a24b", Step: true}
	for k := 0; k < bins; k++ {
		thr.X, thr.Y = append(thr.X, float64(k)*binW), append(thr.Y, acked[k]*8/binW/1e6)
		rth.X, rth.Y = append(rth.X, float64(k)*binW), append(rth.Y, received[k]*8/binW/1e6)
	}
	// The last step runs to the axis' end.
	thr.X, thr.Y = append(thr.X, float64(bins)*binW), append(thr.Y, thr.Y[bins-1])
	rth.X, rth.Y = append(rth.X, float64(bins)*binW), append(rth.Y, rth.Y[bins-1])
	return []Series{thr, rth}
}

// lagSeries is the lag per second: p50, p99, max.
func lagSeries(lag []LagSecond) []Series {
	out := []Series{{Name: "lag p50", Colour: "#54a24b"}, {Name: "lag p99", Colour: "#f58518"}, {Name: "lag max", Colour: "#e45756"}}
	for _, l := range lag {
		x := l.T + 0.5
		out[0].X, out[0].Y = append(out[0].X, x), append(out[0].Y, l.P50Ms)
		out[1].X, out[1].Y = append(out[1].X, x), append(out[1].Y, l.P99Ms)
		out[2].X, out[2].Y = append(out[2].X, x), append(out[2].Y, l.MaxMs)
	}
	return out
}

// connectionSeries is the verdict connection's windows, RTT and
// retransmits per bin.
func connectionSeries(snd, rcv []tcpinfo.Sample, bins int, binW float64) (windows, rtts, retrans []Series) {
	cw := Series{Name: "cwnd × mss (sender)", Colour: "#4c78a8"}
	sw := Series{Name: "snd_wnd (peer's window, sender)", Colour: "#e45756"}
	rw := Series{Name: "rcv_wnd (receiver)", Colour: "#54a24b"}
	rtt := Series{Name: "srtt (sender)", Colour: "#4c78a8"}
	mrtt := Series{Name: "min_rtt (sender)", Colour: "#9d9d9d"}
	re := Series{Name: "retransmits per bin (sender)", Colour: "#e45756", Step: true}
	rebin := make([]float64, bins)
	for i, x := range snd {
		t := float64(x.T) / 1e9
		cw.X, cw.Y = append(cw.X, t), append(cw.Y, float64(x.Info.SndCwnd)*float64(x.Info.SndMSS)/1024)
		if x.Info.Has("snd_wnd") {
			sw.X, sw.Y = append(sw.X, t), append(sw.Y, float64(x.Info.SndWnd)/1024)
		}
		rtt.X, rtt.Y = append(rtt.X, t), append(rtt.Y, float64(x.Info.RTT)/1000)
		if x.Info.Has("min_rtt") {
			mrtt.X, mrtt.Y = append(mrtt.X, t), append(mrtt.Y, float64(x.Info.MinRTT)/1000)
		}
		if i > 0 && x.Info.TotalRetrans >= snd[i-1].Info.TotalRetrans {
			if k := int(t / binW); k >= 0 && k < bins {
				rebin[k] += float64(x.Info.TotalRetrans - snd[i-1].Info.TotalRetrans)
			}
		}
	}
	for _, x := range rcv {
		if x.Info.Has("rcv_wnd") {
			rw.X, rw.Y = append(rw.X, float64(x.T)/1e9), append(rw.Y, float64(x.Info.RcvWnd)/1024)
		}
	}
	for k := range rebin {
		re.X, re.Y = append(re.X, float64(k)*binW), append(re.Y, rebin[k])
	}
	return []Series{cw, sw, rw}, []Series{rtt, mrtt}, []Series{re}
}

// legacyStepRE reads the entry and edge of a timeline event recorded before
// events carried record.TimelineStep (its Detail's fixed prefix).
var legacyStepRE = regexp.MustCompile(`^timeline\[(\d+)\] (start|end): (.*)$`)

// timelineSpans pairs each timeline entry's start and end events.
func timelineSpans(events []record.Event, dur float64) []ChartSpan {
	open := map[int]int{} // entry → index in out
	var out []ChartSpan
	for _, e := range events {
		if e.Kind != record.EventTimeline {
			continue
		}
		st := e.Step
		label := e.Detail
		if st == nil {
			m := legacyStepRE.FindStringSubmatch(e.Detail)
			if m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[1])
			st = &record.TimelineStep{Entry: i, Start: m[2] == "start", Change: record.ChangeLink}
			label = m[3]
		}
		t := float64(e.T) / 1e9
		if st.Start {
			open[st.Entry] = len(out)
			out = append(out, ChartSpan{From: t, To: dur, Label: label, Change: st.Change})
		} else if k, ok := open[st.Entry]; ok {
			out[k].To = t
			delete(open, st.Entry)
		}
	}
	return out
}
