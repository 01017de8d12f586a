package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// Chart geometry (SVG user units).
const (
	chartW      = 960
	chartH      = 190
	chartLeft   = 64
	chartRight  = 16
	chartTop    = 22
	chartBottom = 28
	bandH       = 46
	maxPoints   = 900
)

// classColour is the colour of a verdict class in bands and legends.
var classColour = map[Class]string{
	SenderLimited:   "#4c78a8",
	ReceiverLimited: "#e45756",
	NetworkLimited:  "#f58518",
	Mixed:           "#9d9d9d",
	Unknown:         "#d0d0d0",
}

// line is one series of a chart.
type line struct {
	name   string
	colour string
	x, y   []float64
	step   bool // drawn as steps (counts per bin)
}

// span is a shaded stretch of the time axis (a timeline entry).
type span struct {
	from, to float64
	label    string
	colour   string
}

// marker is a vertical line at a time (a disconnect).
type marker struct {
	t     float64
	label string
}

// WriteHTML writes report.html: one self-contained page (inline SVG and CSS,
// no scripts, no fetches) with both ends on one time axis — throughput, lag
// with disconnects, cwnd / snd_wnd / rcv_wnd, RTT with min_rtt, retransmits
// and the verdict of every window, timeline entries shaded on each chart.
func WriteHTML(w io.Writer, s *Summary, samples []tcpinfo.Sample, events []record.Event) error {
	var b strings.Builder
	m := &s.Meta
	dur := m.DurationS
	if dur <= 0 {
		dur = 1
	}
	spans := timelineSpans(events, dur)
	var marks []marker
	for _, d := range s.Disconnects {
		marks = append(marks, marker{d.T, fmt.Sprintf("%.3fs conn %d: %s noticed %s", d.T, d.Conn, d.Side, d.Error)})
	}
	snd, rcv := connSamples(samples, s.VerdictConn)

	title := fmt.Sprintf("tcplab %s — %s", m.Scenario, s.Verdict.Class)
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n", html.EscapeString(title))
	b.WriteString(`<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 4px}
.verdict{font-size:18px;font-weight:600} .pass{color:#1a7f37} .fail{color:#cf222e}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
svg.chart{display:block;background:#fff;border:1px solid #eee;margin:4px 0}
.axis{stroke:#888;stroke-width:1} .grid{stroke:#eee;stroke-width:1} .tick{font-size:11px;fill:#555}
.series{fill:none;stroke-width:1.6} .legend{font-size:12px}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString("tcplab run "+m.Scenario))
	fmt.Fprintf(&b, "<p>run <code>%s</code>, %s, started %s, %.1f s, backend %s, kernel %s</p>\n",
		html.EscapeString(m.RunID), html.EscapeString(m.StoppedText()), html.EscapeString(m.StartedAt), m.DurationS,
		html.EscapeString(linkBackend(m)), html.EscapeString(m.Kernel))
	fmt.Fprintf(&b, "<p class=\"verdict\" style=\"color:%s\">VERDICT: %s</p>\n<ul>\n", classColour[s.Verdict.Class], html.EscapeString(s.Verdict.Text(" — ")))
	for _, e := range s.Verdict.Evidence {
		fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(e))
	}
	b.WriteString("</ul>\n")
	if len(s.Expectations) > 0 {
		b.WriteString("<h2>Expectations</h2>\n<table><tr><th></th><th>expectation</th><th>actual</th></tr>\n")
		for _, e := range s.Expectations {
			cls, mark := "pass", "PASS"
			if !e.Holds {
				cls, mark = "fail", "FAIL"
			}
			fmt.Fprintf(&b, "<tr><td class=\"%s\">%s</td><td><code>%s</code></td><td>%s</td></tr>\n", cls, mark, html.EscapeString(e.Expect), html.EscapeString(e.Actual))
		}
		b.WriteString("</table>\n")
	}

	b.WriteString("<h2>Verdict of each window</h2>\n")
	b.WriteString(verdictBand(s.Windows, dur, spans))

	// Throughput: bytes acked by every sending socket, per bin. A bin
	// holds at least two sampling intervals, so no bin is empty by chance.
	bins := 200
	if n := len(snd); n > 1 {
		every := float64(snd[n-1].T-snd[0].T) / 1e9 / float64(n-1)
		bins = max(10, min(200, int(dur/(2*every))))
	}
	binW := dur / float64(bins)
	// Both ends: bytes acked at the sender, bytes received at the receiver.
	perBin := func(side string, count func(*tcpinfo.Info) uint64) []float64 {
		out := make([]float64, bins)
		byConn := map[int][]tcpinfo.Sample{}
		for _, x := range samples {
			if x.Side == side {
				byConn[x.Conn] = append(byConn[x.Conn], x)
			}
		}
		for _, ss := range byConn {
			sort.SliceStable(ss, func(i, j int) bool { return ss[i].T < ss[j].T })
			for i := 1; i < len(ss); i++ {
				a, c := count(&ss[i-1].Info), count(&ss[i].Info)
				if k := int(float64(ss[i].T) / 1e9 / binW); k >= 0 && k < bins && c >= a {
					out[k] += float64(c - a)
				}
			}
		}
		return out
	}
	acked := perBin(record.RoleSender, func(i *tcpinfo.Info) uint64 { return i.BytesAcked })
	received := perBin(record.RoleReceiver, func(i *tcpinfo.Info) uint64 { return i.BytesReceived })
	thr := line{name: "acked (sender, all connections)", colour: "#4c78a8", step: true}
	rth := line{name: "received (receiver, all connections)", colour: "#54a24b", step: true}
	for k := 0; k < bins; k++ {
		thr.x, thr.y = append(thr.x, float64(k)*binW), append(thr.y, acked[k]*8/binW/1e6)
		rth.x, rth.y = append(rth.x, float64(k)*binW), append(rth.y, received[k]*8/binW/1e6)
	}
	b.WriteString("<h2>Throughput</h2>\n")
	b.WriteString(chart("throughput", "Mbit/s", dur, []line{thr, rth}, spans, marks))

	lagLines := []line{{name: "lag p50", colour: "#54a24b"}, {name: "lag p99", colour: "#f58518"}, {name: "lag max", colour: "#e45756"}}
	for _, l := range s.LagOverTime {
		x := l.T + 0.5
		lagLines[0].x, lagLines[0].y = append(lagLines[0].x, x), append(lagLines[0].y, l.P50Ms)
		lagLines[1].x, lagLines[1].y = append(lagLines[1].x, x), append(lagLines[1].y, l.P99Ms)
		lagLines[2].x, lagLines[2].y = append(lagLines[2].x, x), append(lagLines[2].y, l.MaxMs)
	}
	b.WriteString("<h2>Lag (production → read) and disconnects</h2>\n")
	b.WriteString(chart("lag", "ms", dur, lagLines, spans, marks))

	cw := line{name: "cwnd × mss (sender)", colour: "#4c78a8"}
	sw := line{name: "snd_wnd (peer's window, sender)", colour: "#e45756"}
	rw := line{name: "rcv_wnd (receiver)", colour: "#54a24b"}
	rtt := line{name: "srtt (sender)", colour: "#4c78a8"}
	mrtt := line{name: "min_rtt (sender)", colour: "#9d9d9d"}
	re := line{name: "retransmits per bin (sender)", colour: "#e45756", step: true}
	rebin := make([]float64, bins)
	for i, x := range snd {
		t := float64(x.T) / 1e9
		cw.x, cw.y = append(cw.x, t), append(cw.y, float64(x.Info.SndCwnd)*float64(x.Info.SndMSS)/1024)
		if x.Info.Has("snd_wnd") {
			sw.x, sw.y = append(sw.x, t), append(sw.y, float64(x.Info.SndWnd)/1024)
		}
		rtt.x, rtt.y = append(rtt.x, t), append(rtt.y, float64(x.Info.RTT)/1000)
		if x.Info.Has("min_rtt") {
			mrtt.x, mrtt.y = append(mrtt.x, t), append(mrtt.y, float64(x.Info.MinRTT)/1000)
		}
		if i > 0 && x.Info.TotalRetrans >= snd[i-1].Info.TotalRetrans {
			if k := int(t / binW); k >= 0 && k < bins {
				rebin[k] += float64(x.Info.TotalRetrans - snd[i-1].Info.TotalRetrans)
			}
		}
	}
	for _, x := range rcv {
		if x.Info.Has("rcv_wnd") {
			rw.x, rw.y = append(rw.x, float64(x.T)/1e9), append(rw.y, float64(x.Info.RcvWnd)/1024)
		}
	}
	for k := range rebin {
		re.x, re.y = append(re.x, float64(k)*binW), append(re.y, rebin[k])
	}
	fmt.Fprintf(&b, "<h2>Windows (connection %d)</h2>\n", s.VerdictConn)
	b.WriteString(chart("windows", "KiB", dur, []line{cw, sw, rw}, spans, marks))
	fmt.Fprintf(&b, "<h2>Round-trip time (connection %d)</h2>\n", s.VerdictConn)
	b.WriteString(chart("rtt", "ms", dur, []line{rtt, mrtt}, spans, marks))
	fmt.Fprintf(&b, "<h2>Retransmits (connection %d)</h2>\n", s.VerdictConn)
	b.WriteString(chart("retransmits", "segments", dur, []line{re}, spans, marks))

	a := &s.Messages
	b.WriteString("<h2>Messages</h2>\n<table><tr><th>sent</th><th>delivered</th><th>lost</th><th>duplicated</th><th>dropped</th><th>undelivered</th><th>connections</th><th>reconnects</th><th>resets</th></tr>\n")
	fmt.Fprintf(&b, "<tr><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td></tr></table>\n",
		a.Sent, a.Delivered, a.Lost, a.Duplicated, a.Dropped, a.Undelivered, a.Connections, a.Reconnects, a.Resets)
	if len(s.Timeline) > 0 {
		b.WriteString("<h2>Timeline</h2>\n<ul>\n")
		for _, t := range s.Timeline {
			fmt.Fprintf(&b, "<li><code>%s</code></li>\n", html.EscapeString(t))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// connSamples returns one connection's samples of each end, in time order.
func connSamples(samples []tcpinfo.Sample, conn int) (snd, rcv []tcpinfo.Sample) {
	for _, x := range samples {
		if x.Conn != conn {
			continue
		}
		if x.Side == record.RoleSender {
			snd = append(snd, x)
		} else if x.Side == record.RoleReceiver {
			rcv = append(rcv, x)
		}
	}
	byT := func(ss []tcpinfo.Sample) { sort.SliceStable(ss, func(i, j int) bool { return ss[i].T < ss[j].T }) }
	byT(snd)
	byT(rcv)
	return snd, rcv
}

var timelineRE = regexp.MustCompile(`^timeline\[(\d+)\] (start|end): (.*)$`)

// timelineSpans pairs each timeline entry's start and end events.
func timelineSpans(events []record.Event, dur float64) []span {
	open := map[int]int{} // entry → index in out
	var out []span
	for _, e := range events {
		if e.Kind != record.EventTimeline {
			continue
		}
		m := timelineRE.FindStringSubmatch(e.Detail)
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		t := float64(e.T) / 1e9
		if m[2] == "start" {
			c := "#fde68a"
			if strings.Contains(m[3], "partition") {
				c = "#fecaca"
			}
			open[i] = len(out)
			out = append(out, span{from: t, to: dur, label: m[3], colour: c})
		} else if k, ok := open[i]; ok {
			out[k].to = t
			delete(open, i)
		}
	}
	return out
}

// x maps a time to the chart's x coordinate.
func xOf(t, dur float64) float64 {
	return chartLeft + t/dur*(chartW-chartLeft-chartRight)
}

func verdictBand(wins []Window, dur float64, spans []span) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<svg class=\"chart\" data-chart=\"verdict\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", chartW, bandH, chartW, bandH)
	for _, sp := range spans {
		fmt.Fprintf(&b, "<rect x=\"%.1f\" y=\"0\" width=\"%.1f\" height=\"6\" fill=\"%s\"><title>%s</title></rect>\n", xOf(sp.from, dur), xOf(sp.to, dur)-xOf(sp.from, dur), sp.colour, html.EscapeString(sp.label))
	}
	for _, w := range wins {
		x0, x1 := xOf(w.Start, dur), xOf(w.End, dur)
		fmt.Fprintf(&b, "<path class=\"band\" d=\"M%.1f 8H%.1fV30H%.1fZ\" fill=\"%s\"><title>%.2f–%.2fs %s %s</title></path>\n",
			x0, x1, x0, classColour[w.Class], w.Start, w.End, w.Class, html.EscapeString(string(w.SubCause)))
	}
	x := float64(chartLeft)
	for _, c := range []Class{SenderLimited, ReceiverLimited, NetworkLimited, Mixed} {
		fmt.Fprintf(&b, "<rect x=\"%.0f\" y=\"34\" width=\"10\" height=\"10\" fill=\"%s\"/><text class=\"legend\" x=\"%.0f\" y=\"43\">%s</text>\n", x, classColour[c], x+14, c)
		x += 150
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// chart draws lines over time with shaded spans and markers. An empty
// series draws nothing but its legend entry says "no data".
func chart(id, unit string, dur float64, lines []line, spans []span, marks []marker) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<svg class=\"chart\" data-chart=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", id, chartW, chartH+16, chartW, chartH+16)
	top, bottom := float64(chartTop), float64(chartH-chartBottom)
	ymax := 0.0
	for _, l := range lines {
		for _, y := range l.y {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ymax = max(ymax, y)
			}
		}
	}
	ymax = niceCeil(ymax)
	yOf := func(y float64) float64 { return bottom - y/ymax*(bottom-top) }
	for _, sp := range spans {
		fmt.Fprintf(&b, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\" opacity=\"0.6\"><title>%s</title></rect>\n",
			xOf(sp.from, dur), top, math.Max(xOf(sp.to, dur)-xOf(sp.from, dur), 1), bottom-top, sp.colour, html.EscapeString(sp.label))
	}
	// Grid and ticks.
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/><text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			chartLeft, chartW-chartRight, yOf(y), yOf(y), chartLeft-6, yOf(y)+4, fmtTick(y))
	}
	step := niceCeil(dur / 10)
	for t := 0.0; t <= dur+1e-9; t += step {
		fmt.Fprintf(&b, "<text class=\"tick\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%ss</text>\n", xOf(t, dur), bottom+16, fmtTick(t))
	}
	fmt.Fprintf(&b, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%.0f\" y2=\"%.0f\"/><line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%.0f\" y2=\"%.0f\"/>\n",
		chartLeft, chartW-chartRight, bottom, bottom, chartLeft, chartLeft, top, bottom)
	fmt.Fprintf(&b, "<text class=\"tick\" x=\"4\" y=\"12\">%s</text>\n", html.EscapeString(unit))
	for _, mk := range marks {
		x := xOf(mk.t, dur)
		fmt.Fprintf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#cf222e\" stroke-dasharray=\"4 3\"><title>%s</title></line>\n", x, x, top, bottom, html.EscapeString(mk.label))
	}
	lx := float64(chartLeft)
	for _, l := range lines {
		d := pathOf(l, dur, yOf)
		name := l.name
		if d == "" {
			name += " (no data)"
		} else {
			fmt.Fprintf(&b, "<path class=\"series\" stroke=\"%s\" d=\"%s\"><title>%s</title></path>\n", l.colour, d, html.EscapeString(l.name))
		}
		fmt.Fprintf(&b, "<rect x=\"%.0f\" y=\"%d\" width=\"10\" height=\"3\" fill=\"%s\"/><text class=\"legend\" x=\"%.0f\" y=\"%d\">%s</text>\n", lx, chartH+6, l.colour, lx+14, chartH+10, html.EscapeString(name))
		lx += float64(len(name))*6.5 + 34
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// pathOf is the SVG path of a series, thinned to maxPoints.
func pathOf(l line, dur float64, yOf func(float64) float64) string {
	n := len(l.x)
	if n == 0 {
		return ""
	}
	stride := 1
	if n > maxPoints {
		stride = (n + maxPoints - 1) / maxPoints
	}
	var b strings.Builder
	prevY := 0.0
	for i := 0; i < n; i += stride {
		y := l.y[i]
		if stride > 1 { // keep peaks: the largest value of the stride
			for k := i; k < min(i+stride, n); k++ {
				y = max(y, l.y[k])
			}
		}
		x, yy := xOf(l.x[i], dur), yOf(y)
		switch {
		case b.Len() == 0:
			fmt.Fprintf(&b, "M%.1f %.1f", x, yy)
		case l.step:
			fmt.Fprintf(&b, "V%.1fH%.1f", prevY, x)
			fmt.Fprintf(&b, "V%.1f", yy)
		default:
			fmt.Fprintf(&b, "L%.1f %.1f", x, yy)
		}
		prevY = yy
	}
	if n == 1 {
		fmt.Fprintf(&b, "h2")
	}
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= v {
			return f * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	return strconv.FormatFloat(v, 'g', 4, 64)
}
