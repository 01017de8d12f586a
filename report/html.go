package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tcplab/tcplab/record"
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

// spanColour is the shade of a timeline entry: a cut path stands out.
func spanColour(c record.ChangeKind) string {
	if c == record.ChangePartition {
		return "#fecaca"
	}
	return "#fde68a"
}

//go:embed report.html.tmpl
var htmlSource string

var htmlPage = template.Must(template.New("report.html").Funcs(template.FuncMap{
	// The page's own colours, from classColour: CSS it can trust.
	"safeCSS":        func(s string) template.CSS { return template.CSS(s) },
	"legendText":     func(x float64) float64 { return x + 14 },
	"tickBaseline":   func(y float64) float64 { return round1(y + 4) },
	"legendBaseline": func(y float64) float64 { return y + 4 },
}).Parse(htmlSource))

// WriteHTML writes report.html: one self-contained page (inline SVG and CSS,
// no scripts, no fetches) with both ends on one time axis — throughput, lag
// with disconnects, cwnd / snd_wnd / rcv_wnd, RTT with min_rtt, retransmits
// and the verdict of every window, timeline entries shaded on each chart.
// The series are the Summary's Charts; html/template escapes every text.
func WriteHTML(w io.Writer, s *Summary) error {
	ch := s.Charts
	if ch == nil {
		ch = &Charts{DurationS: max(s.Meta.DurationS, 1)}
	}
	page := htmlView{
		S:       s,
		Title:   fmt.Sprintf("tcplab %s — %s", s.Meta.Scenario, s.Verdict.Class),
		Backend: linkBackend(&s.Meta),
		Colour:  classColour[s.Verdict.Class],
		Verdict: s.Verdict.Text(" — "),
		Band:    verdictBand(s.Windows, ch),
		Charts: []chartView{
			chartOf("throughput", "Throughput (rate per window)", "Mbit/s", ch.Throughput, ch),
			chartOf("lag", "Lag (production → read) and disconnects", "ms", ch.Lag, ch),
			chartScaled("windows", fmt.Sprintf("Windows (connection %d)", s.VerdictConn), "KiB", ch.Windows, ch, true),
			chartOf("rtt", fmt.Sprintf("Round-trip time (connection %d)", s.VerdictConn), "ms", ch.RTT, ch),
			chartOf("retransmits", fmt.Sprintf("Retransmits (connection %d)", s.VerdictConn), "segments", ch.Retransmits, ch),
		},
	}
	if page.Wire = wireChart(s); page.Wire != nil {
		page.WireTotals = wireTotals(s.Wire)
	}
	return htmlPage.Execute(w, page)
}

// htmlView is what the page template reads.
type htmlView struct {
	S                               *Summary
	Title, Backend, Colour, Verdict string
	Band                            bandView
	Charts                          []chartView
	Wire                            *wireView
	WireTotals                      string
}

// bandView is the verdict band's geometry.
type bandView struct {
	W, H    int
	Spans   []rectView
	Windows []bandWindow
	Marks   []markView
	Legend  []legendView
}

// bandWindow is one window's stretch of the verdict band.
type bandWindow struct {
	D, Fill, Tip string
}

// chartView is one chart's geometry.
type chartView struct {
	ID, Title, Unit string
	W, H            int
	Left, Right     int
	Top, Bottom     float64
	Spans           []rectView
	YTicks, XTicks  []tickView
	Marks           []markView
	Paths           []pathView
	Legend          []legendView
}

type rectView struct {
	X, Y, W, H float64
	Fill, Tip  string
}

type tickView struct {
	X, Y  float64
	Label string
}

type markView struct {
	X           float64
	Tip, Stroke string
}

type pathView struct {
	D, Stroke, Name string
}

type legendView struct {
	X, Y       float64
	Fill, Text string
}

// x maps a time to the chart's x coordinate.
func xOf(t, dur float64) float64 {
	return chartLeft + t/dur*(chartW-chartLeft-chartRight)
}

func verdictBand(wins []Window, ch *Charts) bandView {
	dur := ch.DurationS
	v := bandView{W: chartW, H: bandH}
	for _, sp := range ch.Spans {
		v.Spans = append(v.Spans, rectView{X: round1(xOf(sp.From, dur)), Y: 0, W: round1(xOf(sp.To, dur) - xOf(sp.From, dur)), H: 6, Fill: spanColour(sp.Change), Tip: sp.Label})
	}
	for _, w := range wins {
		x0, x1 := xOf(w.Start, dur), xOf(w.End, dur)
		v.Windows = append(v.Windows, bandWindow{D: fmt.Sprintf("M%.1f 8H%.1fV30H%.1fZ", x0, x1, x0), Fill: classColour[w.Class],
			Tip: fmt.Sprintf("%.2f–%.2fs %s %s", w.Start, w.End, w.Class, w.SubCause)})
	}
	v.Marks = marksOf(ch)
	x := float64(chartLeft)
	for _, c := range []Class{SenderLimited, ReceiverLimited, NetworkLimited, Mixed} {
		v.Legend = append(v.Legend, legendView{X: x, Y: 34, Fill: classColour[c], Text: string(c)})
		x += 150
	}
	return v
}

// marksOf places the disconnects (red) and the trust marks (amber) on the
// time axis.
func marksOf(ch *Charts) []markView {
	var out []markView
	for _, mk := range ch.Marks {
		stroke := "#cf222e"
		if mk.Trust {
			stroke = "#bf8700"
		}
		out = append(out, markView{X: round1(xOf(mk.T, ch.DurationS)), Tip: mk.Label, Stroke: stroke})
	}
	return out
}

// chartOf lays out lines over time with the shaded spans and markers on a
// linear y axis. An empty series draws nothing but its legend entry says
// "no data".
func chartOf(id, title, unit string, lines []Series, ch *Charts) chartView {
	return chartScaled(id, title, unit, lines, ch, false)
}

// chartScaled is chartOf with a logarithmic y axis when logY: series that
// differ by orders of magnitude (a congestion window of 40 KiB beside a
// receive window of 6 MiB) both stay readable.
func chartScaled(id, title, unit string, lines []Series, ch *Charts, logY bool) chartView {
	dur := ch.DurationS
	v := chartView{ID: id, Title: title, Unit: unit, W: chartW, H: chartH + 16, Left: chartLeft, Right: chartW - chartRight,
		Top: chartTop, Bottom: chartH - chartBottom}
	top, bottom := v.Top, v.Bottom
	ymax, ymin := 0.0, math.Inf(1)
	for _, l := range lines {
		for _, y := range l.Y {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ymax = max(ymax, y)
				if y > 0 {
					ymin = min(ymin, y)
				}
			}
		}
	}
	ymax = niceCeil(ymax)
	yOf := func(y float64) float64 { return bottom - y/ymax*(bottom-top) }
	if logY && !math.IsInf(ymin, 1) && ymax/ymin > 20 {
		lo := math.Pow(10, math.Floor(math.Log10(ymin)))
		hi := math.Pow(10, math.Ceil(math.Log10(ymax)))
		span := math.Log10(hi / lo)
		yOf = func(y float64) float64 {
			if y < lo {
				y = lo // zero and below sit on the axis
			}
			return bottom - math.Log10(y/lo)/span*(bottom-top)
		}
		v.Unit += " (log)"
		for t := lo; t <= hi*1.0001; t *= 10 {
			v.YTicks = append(v.YTicks, tickView{X: chartLeft - 6, Y: round1(yOf(t)), Label: fmtTick(t)})
		}
	} else {
		for i := 0; i <= 4; i++ {
			y := ymax * float64(i) / 4
			v.YTicks = append(v.YTicks, tickView{X: chartLeft - 6, Y: round1(yOf(y)), Label: fmtTick(y)})
		}
	}
	for _, sp := range ch.Spans {
		v.Spans = append(v.Spans, rectView{X: round1(xOf(sp.From, dur)), Y: top, W: round1(math.Max(xOf(sp.To, dur)-xOf(sp.From, dur), 1)), H: bottom - top,
			Fill: spanColour(sp.Change), Tip: sp.Label})
	}
	step := niceCeil(dur / 10)
	for t := 0.0; t <= dur+1e-9; t += step {
		v.XTicks = append(v.XTicks, tickView{X: round1(xOf(t, dur)), Y: bottom + 16, Label: fmtTick(t) + "s"})
	}
	v.Marks = marksOf(ch)
	lx := float64(chartLeft)
	for _, l := range lines {
		d := pathOf(l, dur, yOf)
		name := l.Name
		if d == "" {
			name += " (no data)"
		} else {
			v.Paths = append(v.Paths, pathView{D: d, Stroke: l.Colour, Name: l.Name})
		}
		v.Legend = append(v.Legend, legendView{X: lx, Y: chartH + 6, Fill: l.Colour, Text: name})
		lx += float64(len(name))*6.5 + 34
	}
	return v
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// pathOf is the SVG path of a series, thinned to maxPoints.
func pathOf(l Series, dur float64, yOf func(float64) float64) string {
	n := len(l.X)
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
		y := l.Y[i]
		if stride > 1 { // keep peaks: the largest value of the stride
			for k := i; k < min(i+stride, n); k++ {
				y = max(y, l.Y[k])
			}
		}
		x, yy := xOf(l.X[i], dur), yOf(y)
		switch {
		case b.Len() == 0:
			fmt.Fprintf(&b, "M%.1f %.1f", x, yy)
		case l.Step:
			fmt.Fprintf(&b, "V%.1fH%.1f", prevY, x)
			fmt.Fprintf(&b, "V%.1f", yy)
		default:
			fmt.Fprintf(&b, "L%.1f %.1f", x, yy)
		}
		prevY = yy
	}
	if n == 1 {
		b.WriteString("h2")
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
	if v >= 1e4 && v < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64) // 10000, not 1e+04
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
