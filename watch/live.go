package watch

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcplab/tcplab/report"
)

// maxRows bounds the live table: the busiest connections first.
const maxRows = 20

// classLetter is a class's mark in the share bar.
var classLetter = map[report.Class]byte{
	report.SenderLimited: 'S', report.ReceiverLimited: 'R', report.NetworkLimited: 'N', report.Mixed: 'M', report.Unknown: '?',
}

// draw shows the connections: a table redrawn in place on a terminal, or a
// line per connection (its last window) otherwise.
func (w *Watcher) draw(now int64) {
	w.mu.Lock()
	cs := w.sorted(true)
	over, gen := w.over, w.gen
	w.mu.Unlock()
	var b strings.Builder
	if !w.opts.Terminal {
		for _, c := range cs {
			if e := c.ended(gen); c.nclasses == 0 || e > 0 && now-e > int64(w.opts.Window) {
				continue
			}
			fmt.Fprintf(&b, "%7.1fs conn %d %s → %s %s %s, rtt %.1f ms: %s\n", float64(now)/1e9, c.id, c.local, c.remote,
				c.role(), fmtRate(c.rateBits), c.rttMs, c.lastText())
		}
		io.WriteString(w.opts.Live, b.String())
		return
	}
	// Rank by rate, keep maxRows, show in id order.
	if len(cs) > maxRows {
		ranked := append([]*conn(nil), cs...)
		sortByRate(ranked)
		cs = cs[:0]
		for _, c := range ranked[:maxRows] {
			cs = append(cs, c)
		}
		sortByID(cs)
	}
	if w.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", w.drawn)
	}
	lines := 0
	line := func(format string, a ...any) {
		fmt.Fprintf(&b, "\x1b[K"+format+"\n", a...)
		lines++
	}
	line("tcplab watch %s · %.0fs · %d connection(s)%s · window %v · bar: last %d windows (S sender, R receiver, N network, M mixed, ? unknown)",
		w.opts.Target, float64(now)/1e9, len(cs), overText(over), w.opts.Window, recentWindows)
	line("%4s  %-44s %-9s %-11s %12s %9s  %-10s  %s", "conn", "local → remote", "end", "state", "rate", "rtt", "windows", "last window")
	for _, c := range cs {
		state := tcpStates[c.state]
		switch {
		case c.closedAt > 0:
			state = "closed"
		case c.seen != gen:
			state = "ending" // no longer established: sampled no more
		}
		line("%4d  %-44s %-9s %-11s %12s %6.1f ms  %-10s  %s", c.id, c.local+" → "+c.remote, c.role(), state, fmtRate(c.rateBits), c.rttMs, c.bar(), c.lastText())
	}
	fmt.Fprint(&b, "\x1b[J")
	w.drawn = lines
	io.WriteString(w.opts.Live, b.String())
}

func overText(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d more not followed)", n)
}

func (c *conn) role() string {
	if c.nclasses == 0 && c.rateBits == 0 {
		return "…"
	}
	if c.sending {
		return "sending"
	}
	return "receiving"
}

// bar is the last windows' classes, oldest first.
func (c *conn) bar() string {
	b := make([]byte, 0, recentWindows)
	for i := recentWindows - c.nclasses; i < recentWindows; i++ {
		b = append(b, classLetter[c.classes[i]])
	}
	return string(b)
}

// lastText is the last window's class and sub-cause, with the share of the
// recent windows that had that class.
func (c *conn) lastText() string {
	if c.nclasses == 0 {
		return "…"
	}
	last := c.classes[recentWindows-1]
	n := 0
	for i := recentWindows - c.nclasses; i < recentWindows; i++ {
		if c.classes[i] == last {
			n++
		}
	}
	v := report.Verdict{Class: last, SubCause: c.subs[recentWindows-1]}
	return fmt.Sprintf("%s (%d of the last %d windows)", v.Text(" — "), n, c.nclasses)
}

func fmtRate(bits float64) string {
	switch {
	case bits >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bits/1e9)
	case bits >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bits/1e6)
	}
	return fmt.Sprintf("%.1f kbit/s", bits/1e3)
}

// tcpStates names the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = map[uint8]string{1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait-1", 5: "fin-wait-2", 6: "time-wait", 7: "close", 8: "close-wait", 9: "last-ack", 10: "listen", 11: "closing"}
