package report

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/tcplab/tcplab/record"
)

// SweepSchemaVersion is the version of sweep.json's layout.
const SweepSchemaVersion = 1

// SweepReport is the report of a sweep: one row per matrix point.
type SweepReport struct {
	Schema    int      `json:"schema"`
	Scenario  string   `json:"scenario"`
	Keys      []string `json:"keys"`
	StartedAt string   `json:"started_at"`
	// WallS is the whole sweep's wall time; LongestPointS its longest point's.
	WallS         float64 `json:"wall_s"`
	LongestPointS float64 `json:"longest_point_s"`
	Parallel      int     `json:"parallel"`
	Shard         string  `json:"shard,omitempty"` // "i/n" when only a shard ran
	Total         int     `json:"total_points"`    // points in the whole matrix
	// Running: the sweep had not finished when this was written (it is
	// rewritten as each point ends); a sweep killed midway keeps it.
	Running bool       `json:"running,omitempty"`
	Points  []SweepRow `json:"points"`
}

// SweepRow is one point of a sweep.
type SweepRow struct {
	ID      string   `json:"id"`
	Values  []string `json:"values"`
	Dir     string   `json:"dir"`
	Stopped string   `json:"stopped"`
	Error   string   `json:"error,omitempty"`
	Verdict Class    `json:"verdict"`
	WallS   float64  `json:"wall_s"`
	// FailureS is when the failure began (a vanish or the first
	// partition), 0 if the point has none.
	FailureS float64 `json:"failure_s"`
	// Sides are the detection figures of each end.
	Sides []SideDetection `json:"sides"`
	// FirstNoticed is the side whose connection ended first after the failure.
	FirstNoticed record.Side `json:"first_noticed,omitempty"`
	// Path is the path as the point's verdict connection measured it:
	// goodput, base RTT, retransmits (a throughput sweep's figures).
	Path *PathMeasured `json:"path,omitempty"`
	// Trust is the point's trust level (empty: not judged), and
	// TrustReasons the reasons that made it less than ok.
	Trust        TrustLevel    `json:"trust,omitempty"`
	TrustReasons []TrustReason `json:"trust_reasons,omitempty"`
	// Rerun: its first run came out distorted (too much at once for the
	// host) and it ran again alone; the first run is in Dir + ".distorted".
	Rerun  bool `json:"rerun,omitempty"`
	Passed bool `json:"passed"`
}

// SideDetection is how one end learned that its peer was gone.
type SideDetection struct {
	Side record.Side `json:"side"`
	// DetectedS is the time from the failure to this side's connection
	// ending (0: it never noticed within the run).
	DetectedS float64 `json:"detected_s"`
	Error     string  `json:"error,omitempty"`
	// Probes is the most unanswered keepalive / zero-window probes the
	// socket had out (tcpi_probes).
	Probes int `json:"probes"`
	// WireProbes are the probes this side sent that the userspace link saw
	// (over the whole run; nil with the kernel backend).
	WireProbes *WireProbes `json:"wire_probes,omitempty"`
	// Busy: the socket had unacknowledged data just after the failure.
	Busy bool `json:"busy"`
	// ExpectedS is the kernel's rule for this side (0: the rule says it
	// does not notice within the run); Rule says which rule.
	ExpectedS float64 `json:"expected_s"`
	Rule      string  `json:"rule"`
	// KeepaliveAbort: the rule is a keepalive abort, which sends the peer
	// an RST (decided with the rule, never read from its text).
	KeepaliveAbort bool `json:"keepalive_abort,omitempty"`
}

// WireProbes counts probes seen on the link: keepalive probes, and window
// probes (the persist timer's, behind a zero window).
type WireProbes struct {
	Keepalive uint64 `json:"keepalive"`
	Window    uint64 `json:"window"`
}

// String is like "3 keepalive + 0 window", or "—" when not counted.
func (w *WireProbes) String() string {
	if w == nil {
		return "—"
	}
	return fmt.Sprintf("%d keepalive + %d window", w.Keepalive, w.Window)
}

// MarshalSweepJSON is sweep.json's bytes for r.
func MarshalSweepJSON(r *SweepReport) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode sweep: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeSweepJSON reads a sweep.json's bytes; name is the file in errors.
func DecodeSweepJSON(b []byte, name string) (*SweepReport, error) {
	var r SweepReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return &r, nil
}

func fmtDetect(s float64) string {
	if s <= 0 {
		return "never"
	}
	return fmt.Sprintf("%.2fs", s)
}

// WriteSweepText writes the sweep table: for each point its values, and per
// side the time to detect against the kernel's rule, the probes and the
// error; then who noticed first.
func WriteSweepText(out io.Writer, r *SweepReport) error {
	w := &errWriter{w: out}
	fmt.Fprintf(w, "tcplab sweep %s: %d points", r.Scenario, len(r.Points))
	if r.Shard != "" {
		fmt.Fprintf(w, " (shard %s of %d)", r.Shard, r.Total)
	}
	fmt.Fprintf(w, ", %d at a time, %.1fs wall (longest point %.1fs = %.2f×)\n\n", r.Parallel, r.WallS, r.LongestPointS, r.WallS/max(r.LongestPointS, 1e-9))
	for _, p := range r.Points {
		mark := "PASS"
		if !p.Passed {
			mark = "FAIL"
		}
		vals := make([]string, len(r.Keys))
		for i, k := range r.Keys {
			vals[i] = k + "=" + p.Values[i]
		}
		trust := ""
		if p.Trust != "" && p.Trust != TrustOK {
			trust = ", trust " + string(p.Trust)
		}
		if p.Rerun {
			trust += ", run again alone after a distorted first run"
		}
		fmt.Fprintf(w, "%s %s %s  [%s, %s%s]\n", mark, p.ID, strings.Join(vals, " "), p.Verdict, p.Stopped, trust)
		for _, r := range p.TrustReasons {
			if r.Level == TrustDistorted {
				fmt.Fprintf(w, "     distorted: %s\n", r.Text)
			}
		}
		if pm := p.Path; pm != nil && p.FailureS == 0 {
			// No failure to detect: the point's throughput figures instead.
			fmt.Fprintf(w, "     goodput %.2f Mbit/s, base RTT %.2f ms, srtt %.2f ms, retransmits %d (%.2f%% of bytes)\n",
				pm.GoodputBits/1e6, pm.MinRTTMs, pm.SRTTMs, pm.Retransmits, 100*pm.RetransRate)
			continue
		}
		for _, s := range p.Sides {
			busy := "idle"
			if s.Busy {
				busy = "busy"
			}
			fmt.Fprintf(w, "     %-8s %-4s detected %-8s expected %-8s (%s), %d probes out, on the wire %s, %s\n",
				s.Side, busy, fmtDetect(s.DetectedS), fmtDetect(s.ExpectedS), s.Rule, s.Probes, s.WireProbes, orDash(s.Error))
		}
		if p.FirstNoticed != "" {
			fmt.Fprintf(w, "     first to notice: %s\n", p.FirstNoticed)
		}
		if p.Error != "" {
			fmt.Fprintf(w, "     error: %s\n", p.Error)
		}
	}
	return w.err
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// throughputSweep: no point has a failure to detect, so the table is of
// the path's figures (goodput, base RTT, retransmits) per setting.
func throughputSweep(r *SweepReport) bool {
	for _, p := range r.Points {
		if p.FailureS != 0 || p.Path == nil {
			return false
		}
	}
	return len(r.Points) > 0
}

// writeThroughputMarkdown is sweep.md's table for a throughput sweep.
func writeThroughputMarkdown(b *strings.Builder, r *SweepReport) {
	b.WriteString("| point |")
	for _, k := range r.Keys {
		fmt.Fprintf(b, " %s |", mdEscape(k))
	}
	b.WriteString(" verdict | goodput | base RTT | srtt | retransmits | trust |\n|---|")
	b.WriteString(strings.Repeat("---|", len(r.Keys)))
	b.WriteString("---|---:|---:|---:|---:|---|\n")
	for _, p := range r.Points {
		id := p.ID
		if !p.Passed {
			id += " ❌"
		}
		vals := make([]string, len(r.Keys))
		for k := range r.Keys {
			vals[k] = mdEscape(p.Values[k])
		}
		trust := string(p.Trust)
		if p.Rerun {
			trust += " (run again alone)"
		}
		pm := p.Path
		fmt.Fprintf(b, "| %s | %s | %s | %.2f Mbit/s | %.2f ms | %.2f ms | %.2f%% | %s |\n", id, strings.Join(vals, " | "), p.Verdict,
			pm.GoodputBits/1e6, pm.MinRTTMs, pm.SRTTMs, 100*pm.RetransRate, orDash(trust))
	}
}

// WriteSweepMarkdown writes sweep.md, a table fit for a CI step summary.
func WriteSweepMarkdown(w io.Writer, r *SweepReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## tcplab sweep: %s\n\n%d points, %d at a time, %.1f s wall (longest point %.1f s)\n\n", mdEscape(r.Scenario), len(r.Points), r.Parallel, r.WallS, r.LongestPointS)
	if throughputSweep(r) {
		writeThroughputMarkdown(&b, r)
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("| point |")
	for _, k := range r.Keys {
		fmt.Fprintf(&b, " %s |", mdEscape(k))
	}
	b.WriteString(" side | state | detected | expected | rule | probes out | probes on the wire | error | first |\n|---|")
	b.WriteString(strings.Repeat("---|", len(r.Keys)))
	b.WriteString("---|---|---:|---:|---|---:|---|---|---|\n")
	for _, p := range r.Points {
		for i, s := range p.Sides {
			id, first := "", ""
			vals := make([]string, len(r.Keys))
			if i == 0 {
				id, first = p.ID, string(p.FirstNoticed)
				if !p.Passed {
					id += " ❌"
				}
				if p.Trust != "" && p.Trust != TrustOK {
					id += " (trust " + string(p.Trust) + ")"
				}
				if p.Rerun {
					id += " (run again alone)"
				}
				for k := range r.Keys {
					vals[k] = mdEscape(p.Values[k])
				}
			}
			state := "idle"
			if s.Busy {
				state = "busy"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s |\n", id, strings.Join(vals, " | "), s.Side, state,
				fmtDetect(s.DetectedS), fmtDetect(s.ExpectedS), mdEscape(s.Rule), s.Probes, s.WireProbes, mdEscape(orDash(s.Error)), first)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSweepHTML writes sweep.html: the table and a chart of detection time
// per setting — a bar per side (measured) with a tick at the kernel's rule.
// One self-contained file, inline SVG, no scripts.
func WriteSweepHTML(w io.Writer, r *SweepReport) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>tcplab sweep %s</title>\n", html.EscapeString(r.Scenario))
	b.WriteString(`<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{font-size:20px} table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px}
svg.chart{display:block;width:100%;height:auto;border:1px solid #eee}
.tick{font-size:11px;fill:#555} .label{font-size:12px} .fail{color:#cf222e} .doubtful{color:#9a6700}</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>tcplab sweep %s</h1>\n<p>%d points, %d at a time, %.1f s wall (longest point %.1f s)</p>\n",
		html.EscapeString(r.Scenario), len(r.Points), r.Parallel, r.WallS, r.LongestPointS)
	if throughputSweep(r) {
		writeThroughputHTML(&b, r)
		_, err := io.WriteString(w, b.String())
		return err
	}
	// Chart: one row per point and side.
	rows := 0
	maxT := 1.0
	for _, p := range r.Points {
		for _, s := range p.Sides {
			rows++
			maxT = max(maxT, s.DetectedS, s.ExpectedS)
		}
	}
	maxT = niceCeil(maxT)
	const left, right, rowH, top = 260, 30, 20, 24
	width := 960
	height := top + rows*rowH + 30
	xOfT := func(t float64) float64 { return left + t/maxT*float64(width-left-right) }
	fmt.Fprintf(&b, "<svg class=\"chart\" data-chart=\"detection\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", width, height, width, height)
	for i := 0; i <= 5; i++ {
		t := maxT * float64(i) / 5
		fmt.Fprintf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/><text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%ss</text>\n",
			xOfT(t), xOfT(t), top-6, height-24, xOfT(t), height-10, fmtTick(t))
	}
	y := top
	for _, p := range r.Points {
		for i, s := range p.Sides {
			label := string(s.Side)
			if i == 0 {
				label = p.ID + " " + string(s.Side)
			}
			colour := "#4c78a8"
			if s.Side == record.RoleReceiver {
				colour = "#54a24b"
			}
			fmt.Fprintf(&b, "<text class=\"label\" x=\"4\" y=\"%d\">%s</text>\n", y+14, html.EscapeString(label))
			if s.DetectedS > 0 {
				fmt.Fprintf(&b, "<path d=\"M%d %dH%.1fV%dH%dZ\" fill=\"%s\"><title>%s %s: detected after %.2fs (%s)</title></path>\n",
					left, y+4, xOfT(s.DetectedS), y+16, left, colour, p.ID, s.Side, s.DetectedS, html.EscapeString(s.Error))
			} else {
				fmt.Fprintf(&b, "<text class=\"tick\" x=\"%d\" y=\"%d\">never</text>\n", left+4, y+14)
			}
			if s.ExpectedS > 0 {
				x := xOfT(s.ExpectedS)
				fmt.Fprintf(&b, "<path d=\"M%.1f %dV%d\" stroke=\"#e45756\" stroke-width=\"2\"><title>kernel's rule: %.2fs (%s)</title></path>\n", x, y+1, y+19, s.ExpectedS, html.EscapeString(s.Rule))
			}
			y += rowH
		}
	}
	b.WriteString("</svg>\n<p>Bars: measured time from the failure to the connection's end; red ticks: the kernel's rule.</p>\n")
	b.WriteString("<table><tr><th>point</th>")
	for _, k := range r.Keys {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(k))
	}
	b.WriteString("<th>side</th><th>state</th><th>detected</th><th>expected</th><th>rule</th><th>probes out</th><th>probes on the wire</th><th>error</th><th>first</th></tr>\n")
	for _, p := range r.Points {
		for i, s := range p.Sides {
			b.WriteString("<tr>")
			if i == 0 {
				cls := ""
				if !p.Passed {
					cls = " class=\"fail\""
				}
				fmt.Fprintf(&b, "<td rowspan=\"%d\"%s>%s</td>", len(p.Sides), cls, p.ID)
				for _, v := range p.Values {
					fmt.Fprintf(&b, "<td rowspan=\"%d\">%s</td>", len(p.Sides), html.EscapeString(v))
				}
			}
			state := "idle"
			if s.Busy {
				state = "busy"
			}
			first := ""
			if i == 0 {
				first = string(p.FirstNoticed)
			}
			fmt.Fprintf(&b, "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				s.Side, state, fmtDetect(s.DetectedS), fmtDetect(s.ExpectedS), html.EscapeString(s.Rule), s.Probes, s.WireProbes, html.EscapeString(orDash(s.Error)), first)
		}
	}
	b.WriteString("</table>\n</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// seriesPalette colours a throughput sweep's lines.
var seriesPalette = []string{"#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#eeca3b"}

// writeThroughputHTML is sweep.html for a throughput sweep: goodput across
// the first matrix key, one line per setting of the other keys (log scale
// when the goodputs span more than 20×), each point a dot — hollow amber
// when its trust is doubtful, a red cross when distorted — and the table.
func writeThroughputHTML(b *strings.Builder, r *SweepReport) {
	// x: the first key's values in order; lines: the other keys' settings.
	var xs, lines []string
	xIdx, lineIdx := map[string]int{}, map[string]int{}
	lineOf := func(p *SweepRow) string {
		var parts []string
		for k := 1; k < len(r.Keys) && k < len(p.Values); k++ {
			key := r.Keys[k] // its last name says enough beside the value
			key = key[strings.LastIndexByte(key, '.')+1:]
			parts = append(parts, key+"="+p.Values[k])
		}
		return strings.Join(parts, " ")
	}
	lo, hi := math.Inf(1), 0.0
	for i := range r.Points {
		p := &r.Points[i]
		x := ""
		if len(p.Values) > 0 {
			x = p.Values[0]
		}
		if _, ok := xIdx[x]; !ok {
			xIdx[x] = len(xs)
			xs = append(xs, x)
		}
		if l := lineOf(p); !slices.Contains(lines, l) {
			lineIdx[l] = len(lines)
			lines = append(lines, l)
		}
		if g := p.Path.GoodputBits / 1e6; g > 0 {
			lo, hi = min(lo, g), max(hi, g)
		}
	}
	const width, height, left, right, top, bottom = 960, 360, 70, 20, 20, 300
	logY := !math.IsInf(lo, 1) && hi/lo > 20
	ymax := niceCeil(max(hi, 1e-3))
	var ylo float64
	yOf := func(g float64) float64 { return bottom - g/ymax*(bottom-top) }
	if logY {
		ylo = math.Pow(10, math.Floor(math.Log10(lo)))
		yhi := math.Pow(10, math.Ceil(math.Log10(hi)))
		span := math.Log10(yhi / ylo)
		yOf = func(g float64) float64 {
			return bottom - math.Log10(max(g, ylo)/ylo)/span*(bottom-top)
		}
		ymax = yhi
	}
	xOf := func(i int) float64 {
		if len(xs) == 1 {
			return (left + width - right) / 2
		}
		return left + 20 + float64(i)*float64(width-left-right-40)/float64(len(xs)-1)
	}
	key0 := ""
	if len(r.Keys) > 0 {
		key0 = r.Keys[0]
	}
	fmt.Fprintf(b, "<h2>Goodput across %s</h2>\n", html.EscapeString(key0))
	legendRows := (len(lines) + 1) / 2
	h := height + 18*legendRows
	fmt.Fprintf(b, "<svg class=\"chart\" data-chart=\"goodput\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", width, h, width, h)
	ticks := []float64{}
	if logY {
		for t := ylo; t <= ymax*1.0001; t *= 10 {
			ticks = append(ticks, t)
		}
	} else {
		for i := 0; i <= 4; i++ {
			ticks = append(ticks, ymax*float64(i)/4)
		}
	}
	for _, t := range ticks {
		fmt.Fprintf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			left, width-right, yOf(t), yOf(t), left-6, yOf(t)+4, fmtTick(t))
	}
	unit := "Mbit/s"
	if logY {
		unit += " (log)"
	}
	fmt.Fprintf(b, "<text class=\"tick\" x=\"4\" y=\"12\">%s</text>\n", unit)
	for i, x := range xs {
		fmt.Fprintf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", xOf(i), bottom+18, html.EscapeString(x))
	}
	fmt.Fprintf(b, "<text class=\"label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (left+width-right)/2, bottom+36, html.EscapeString(key0))
	for li, l := range lines {
		colour := seriesPalette[li%len(seriesPalette)]
		var d strings.Builder
		for i := range r.Points {
			p := &r.Points[i]
			if lineOf(p) != l || len(p.Values) == 0 {
				continue
			}
			cmd := "L"
			if d.Len() == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", cmd, xOf(xIdx[p.Values[0]]), yOf(p.Path.GoodputBits/1e6))
		}
		name := l
		if name == "" {
			name = "goodput"
		}
		fmt.Fprintf(b, "<path class=\"series\" fill=\"none\" stroke-width=\"1.6\" stroke=\"%s\" d=\"%s\"><title>%s</title></path>\n", colour, d.String(), html.EscapeString(name))
		lx, ly := left+(li%2)*440, height+(li/2)*18
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"3\" fill=\"%s\"/><text class=\"label\" x=\"%d\" y=\"%d\">%s</text>\n", lx, ly, colour, lx+14, ly+4, html.EscapeString(name))
	}
	for i := range r.Points {
		p := &r.Points[i]
		if len(p.Values) == 0 {
			continue
		}
		x, y := xOf(xIdx[p.Values[0]]), yOf(p.Path.GoodputBits/1e6)
		colour := seriesPalette[lineIdx[lineOf(p)]%len(seriesPalette)]
		tip := fmt.Sprintf("%s %s: %s, %.2f Mbit/s, base RTT %.2f ms, trust %s", p.ID, strings.Join(p.Values, " "), p.Verdict, p.Path.GoodputBits/1e6, p.Path.MinRTTMs, orDash(string(p.Trust)))
		for _, r := range p.TrustReasons {
			tip += "; " + r.Text
		}
		switch p.Trust {
		case TrustDistorted:
			fmt.Fprintf(b, "<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" stroke=\"#cf222e\" stroke-width=\"2\"><title>%s</title></path>\n", x-4, y-4, html.EscapeString(tip))
		case TrustDoubtful:
			fmt.Fprintf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#fff\" stroke=\"#bf8700\" stroke-width=\"2\"><title>%s</title></circle>\n", x, y, html.EscapeString(tip))
		default:
			fmt.Fprintf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>%s</title></circle>\n", x, y, colour, html.EscapeString(tip))
		}
	}
	b.WriteString("</svg>\n<p>Dots: points (hover for figures); hollow amber: trust doubtful; red cross: distorted (run again alone, still distorted).</p>\n")
	b.WriteString("<table><tr><th>point</th>")
	for _, k := range r.Keys {
		fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(k))
	}
	b.WriteString("<th>verdict</th><th>goodput</th><th>base RTT</th><th>srtt</th><th>retransmits</th><th>trust</th></tr>\n")
	for _, p := range r.Points {
		cls := ""
		switch {
		case !p.Passed || p.Trust == TrustDistorted:
			cls = " class=\"fail\""
		case p.Trust == TrustDoubtful:
			cls = " class=\"doubtful\""
		}
		fmt.Fprintf(b, "<tr><td%s>%s</td>", cls, html.EscapeString(p.ID))
		for _, v := range p.Values {
			fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(v))
		}
		trust := string(p.Trust)
		if p.Rerun {
			trust += " (run again alone)"
		}
		pm := p.Path
		fmt.Fprintf(b, "<td>%s</td><td>%.2f Mbit/s</td><td>%.2f ms</td><td>%.2f ms</td><td>%.2f%%</td><td%s>%s</td></tr>\n",
			p.Verdict, pm.GoodputBits/1e6, pm.MinRTTMs, pm.SRTTMs, 100*pm.RetransRate, cls, html.EscapeString(orDash(trust)))
	}
	b.WriteString("</table>\n</body></html>\n")
}
