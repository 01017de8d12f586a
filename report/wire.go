package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tcplab/tcplab/record"
)

// WireSummary is every connection as the link saw it (connections.jsonl),
// whatever programs made them: how many, reuse, who closed, handshakes,
// idle stretches.
type WireSummary struct {
	Connections int `json:"connections"`
	// Exchanges counts requests with their responses over all connections;
	// Reused counts the connections that carried more than one.
	Exchanges int `json:"exchanges"`
	Reused    int `json:"reused"`
	// ClosedByClient and ClosedByServer count who closed first (FIN or
	// RST); Resets those closed with an RST; Refused those answered with
	// an RST before the handshake completed; Open those open at the end.
	ClosedByClient int `json:"closed_by_client"`
	ClosedByServer int `json:"closed_by_server"`
	Resets         int `json:"resets"`
	Refused        int `json:"refused"`
	Open           int `json:"open"`
	// Handshake, TTFB (last request byte to first response byte) and
	// Session are over the connections (exchanges) that have them.
	HandshakeMs Spread `json:"handshake_ms"`
	TTFBMs      Spread `json:"ttfb_ms"`
	SessionMs   Spread `json:"session_ms"`
	// IdleMaxMs is the longest stretch any connection was open without data.
	IdleMaxMs float64 `json:"idle_max_ms"`
	// ClientSides counts the connections whose client was in the sender's
	// and in the receiver's namespace.
	ClientSides map[record.Side]int `json:"client_sides"`
	// Missed: the packets the wire did not see (the kernel backend's
	// packet socket overflowed) and the connections not followed. Either
	// makes the figures above a lower bound, and expectations on them are
	// not judged.
	MissedPackets uint64 `json:"missed_packets"`
	Untracked     int    `json:"untracked"`
	// List is every connection (connections.jsonl), in the order opened.
	List []record.WireConn `json:"list"`
}

// Spread is a distribution's median, 99th percentile and maximum (0 with
// N = 0).
type Spread struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	sort.Float64s(v)
	at := func(q float64) float64 { return v[min(len(v)-1, int(math.Ceil(q*float64(len(v))))-1)] }
	return Spread{N: len(v), P50: at(0.5), P99: at(0.99), Max: v[len(v)-1]}
}

// Complete says whether the wire saw every packet and followed every
// connection.
func (w *WireSummary) Complete() bool { return w.MissedPackets == 0 && w.Untracked == 0 }

// addWire adds the wire's connections (nil: the run recorded none).
func (sum *Summary) addWire(conns []record.WireConn) {
	if conns == nil {
		return
	}
	w := &WireSummary{Connections: len(conns), List: conns, ClientSides: map[record.Side]int{}}
	if l := sum.Meta.Link; l != nil && l.Wire != nil {
		w.MissedPackets, w.Untracked = l.Wire.MissedPackets, l.Wire.Untracked
	}
	var hs, ttfb, sess []float64
	for i := range conns {
		c := &conns[i]
		w.Exchanges += c.Exchanges
		if c.Exchanges > 1 {
			w.Reused++
		}
		if !c.MidStream {
			w.ClientSides[c.ClientSide]++
		}
		switch {
		case c.Close == nil:
			w.Open++
		case c.Close.By == record.EndClient:
			w.ClosedByClient++
		default:
			w.ClosedByServer++
		}
		if c.Close != nil && c.Close.How == record.CloseRST {
			w.Resets++
			if c.HandshakeMs == nil && !c.MidStream {
				w.Refused++
			}
		}
		if c.HandshakeMs != nil {
			hs = append(hs, *c.HandshakeMs)
		}
		for _, x := range c.FirstExchanges {
			if x.TTFBMs != nil {
				ttfb = append(ttfb, *x.TTFBMs)
			}
		}
		sess = append(sess, c.SessionMs)
		w.IdleMaxMs = max(w.IdleMaxMs, c.IdleMaxMs)
	}
	w.HandshakeMs, w.TTFBMs, w.SessionMs = spreadOf(hs), spreadOf(ttfb), spreadOf(sess)
	sum.Wire = w
}

// wireCount is a count subject read from the wire's connections: NaN (not
// judged) when the run recorded none or the wire missed packets.
func wireCount(f func(w *WireSummary) int) runSubject {
	return runSubject{kindCount, func(sum *Summary) (Class, float64) {
		if sum.Wire == nil || !sum.Wire.Complete() {
			return "", math.NaN()
		}
		return "", float64(f(sum.Wire))
	}, wireUnjudged}
}

// wireMs is a duration subject from the wire (given in ms).
func wireMs(f func(w *WireSummary) (float64, bool)) runSubject {
	return runSubject{kindDuration, func(sum *Summary) (Class, float64) {
		if sum.Wire == nil || !sum.Wire.Complete() {
			return "", math.NaN()
		}
		v, ok := f(sum.Wire)
		if !ok {
			return "", math.NaN()
		}
		return "", v / 1e3
	}, wireUnjudged}
}

// wireUnjudged says why a wire subject has no value.
func wireUnjudged(sum *Summary) string {
	switch {
	case sum.Wire == nil:
		return "unknown (this run recorded no connections.jsonl: link.wire: false, or a run from before it)"
	case sum.Wire.MissedPackets > 0:
		return fmt.Sprintf("unknown (the wire missed %d packets)", sum.Wire.MissedPackets)
	case sum.Wire.Untracked > 0:
		return fmt.Sprintf("unknown (%d connections were not followed)", sum.Wire.Untracked)
	}
	return "none (no connection had one)"
}

// writeWire writes the lifecycle table: the totals, then one line per
// connection (the first and the last ones, when there are many).
func writeWire(w io.Writer, s *Summary, paint func(code, text string) string) {
	ws := s.Wire
	if ws == nil || ws.Connections == 0 {
		return
	}
	fmt.Fprintf(w, "\nconnections on the wire: %d, %s\n", ws.Connections, wireTotals(ws))
	if !ws.Complete() {
		fmt.Fprintf(w, "  %s\n", paint(ansiRed, wireUnjudged(s)+": the figures are lower bounds and expectations on them are not judged"))
	}
	rows := wireRows(len(ws.List))
	wide := len("client → server")
	for _, i := range rows {
		if i >= 0 {
			wide = max(wide, utf8.RuneCountInString(ws.List[i].Client+" → "+ws.List[i].Server))
		}
	}
	pad := func(t string) string { return t + strings.Repeat(" ", max(0, wide-utf8.RuneCountInString(t))) }
	fmt.Fprintf(w, "  conn  %s   opened  handshake  exch   client→   server→  idle max  closed             lasted\n", pad("client → server"))
	for _, i := range rows {
		if i < 0 {
			fmt.Fprintf(w, "  … %d more in connections.jsonl\n", len(ws.List)-wireHead-wireTail)
			continue
		}
		c := &ws.List[i]
		fmt.Fprintf(w, "  %4d  %s %7.3fs %10s %5d %9s %9s %9s  %-17s %8s\n", c.Conn, pad(c.Client+" → "+c.Server), c.OpenedS, handshakeText(c),
			c.Exchanges, sizeText(c.BytesClient), sizeText(c.BytesServer), msText(c.IdleMaxMs), closeText(c), msText(c.SessionMs))
	}
}

// wireTotals is the one-line summary of the wire's connections.
func wireTotals(ws *WireSummary) string {
	parts := []string{fmt.Sprintf("%d exchange(s), %d reused", ws.Exchanges, ws.Reused)}
	closed := fmt.Sprintf("closed by client %d, by server %d", ws.ClosedByClient, ws.ClosedByServer)
	if ws.Resets > 0 {
		closed += fmt.Sprintf(" (%d with RST, %d refused)", ws.Resets, ws.Refused)
	}
	if ws.Open > 0 {
		closed += fmt.Sprintf(", open at the end %d", ws.Open)
	}
	parts = append(parts, closed)
	if h := ws.HandshakeMs; h.N > 0 {
		parts = append(parts, fmt.Sprintf("handshake p50 %s p99 %s", msText(h.P50), msText(h.P99)))
	}
	if t := ws.TTFBMs; t.N > 0 {
		parts = append(parts, fmt.Sprintf("first byte p50 %s p99 %s", msText(t.P50), msText(t.P99)))
	}
	parts = append(parts, "idle max "+msText(ws.IdleMaxMs))
	return strings.Join(parts, "; ")
}

// The rows of a long lifecycle table: the first wireHead and the last
// wireTail connections.
const (
	wireHead = 10
	wireTail = 3
)

// wireRows are the indexes of the rows shown; -1 marks the elision.
func wireRows(n int) []int {
	var rows []int
	for i := 0; i < n; i++ {
		if n > wireHead+wireTail+1 && i == wireHead {
			rows = append(rows, -1)
			i = n - wireTail - 1
			continue
		}
		rows = append(rows, i)
	}
	return rows
}

func handshakeText(c *record.WireConn) string {
	if c.HandshakeMs == nil {
		if c.MidStream {
			return "(before)"
		}
		return "none"
	}
	s := msText(*c.HandshakeMs)
	if c.SYNRetries > 0 {
		s += fmt.Sprintf(" (%d SYN retries)", c.SYNRetries)
	}
	return s
}

func closeText(c *record.WireConn) string {
	if c.Close == nil {
		return "open at the end"
	}
	return fmt.Sprintf("%s %s %.2fs", c.Close.By, strings.ToUpper(string(c.Close.How)), c.Close.AtS)
}

func msText(ms float64) string {
	switch {
	case ms >= 10e3:
		return fmt.Sprintf("%.1f s", ms/1e3)
	case ms >= 1e3:
		return fmt.Sprintf("%.2f s", ms/1e3)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

func sizeText(n uint64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 10000:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// writeWireMarkdown writes the lifecycle table for summary.md.
func writeWireMarkdown(b *strings.Builder, s *Summary) {
	ws := s.Wire
	if ws == nil || ws.Connections == 0 {
		return
	}
	fmt.Fprintf(b, "\n**Connections on the wire: %d** — %s\n", ws.Connections, mdEscape(wireTotals(ws)))
	if !ws.Complete() {
		fmt.Fprintf(b, "\n> ⚠️ %s: the figures are lower bounds and expectations on them are not judged\n", mdEscape(wireUnjudged(s)))
	}
	b.WriteString("\n| conn | client → server | opened | handshake | exchanges | client sent | server sent | idle max | closed | lasted |\n|---:|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, i := range wireRows(len(ws.List)) {
		if i < 0 {
			fmt.Fprintf(b, "| … | %d more in connections.jsonl | | | | | | | | |\n", len(ws.List)-wireHead-wireTail)
			continue
		}
		c := &ws.List[i]
		fmt.Fprintf(b, "| %d | %s | %.3f s | %s | %d | %s | %s | %s | %s | %s |\n", c.Conn, mdEscape(c.Client+" → "+c.Server), c.OpenedS, handshakeText(c),
			c.Exchanges, sizeText(c.BytesClient), sizeText(c.BytesServer), msText(c.IdleMaxMs), closeText(c), msText(c.SessionMs))
	}
}
