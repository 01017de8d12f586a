package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tcplab/tcplab/record"
)

// MarshalJSON is report.json's bytes for s.
func MarshalJSON(s *Summary) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteJSON writes report.json.
func WriteJSON(w io.Writer, s *Summary) error {
	b, err := MarshalJSON(s)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteText writes the readable summary (report.txt).
func WriteText(w io.Writer, s *Summary) error { return writeText(w, s, false) }

// WriteTextColour writes the readable summary with the verdict and the
// expectations' PASS / FAIL in colour, for a terminal.
func WriteTextColour(w io.Writer, s *Summary) error { return writeText(w, s, true) }

// ANSI colours for a terminal.
const (
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiReset = "\x1b[0m"
)

// writeText writes the readable summary, in colour when colour is set.
func writeText(out io.Writer, s *Summary, colour bool) error {
	w := &errWriter{w: out}
	paint := func(code, text string) string {
		if !colour {
			return text
		}
		return code + text + ansiReset
	}
	for _, part := range []func(io.Writer, *Summary, func(code, text string) string){writeHeader, writePeers, writeMessages, writeHTTP, writeWire, writeLink, writeChecks} {
		part(w, s, paint)
	}
	return w.err
}

// endsText says which ends of a connection were sampled.
var endsText = map[Ends]string{
	EndsBoth:      "both ends sampled",
	EndsSending:   "its sending end sampled (the whole case: chronos, queue, the peer's window)",
	EndsReceiving: "its receiving end sampled (receiver-limited or not; the sender and the path look alike from there)",
	"":            "no samples",
}

// writeHeader writes the run, the link, the verdict with its evidence and the shares.
func writeHeader(w io.Writer, s *Summary, paint func(code, text string) string) {
	m := &s.Meta
	fmt.Fprintf(w, "%s (%s): %s\n", m.Title(), m.RunID, m.StoppedText())
	if wr := m.Watch; wr != nil {
		ns := wr.NetNS
		if ns == "" {
			ns = "tcplab's own"
		}
		fmt.Fprintf(w, "  namespace %s; kernel %s, tcp_info %d bytes; %d connection(s) followed", ns, m.Kernel, s.TCPInfoLen, wr.Connections)
		if wr.Untracked > 0 {
			fmt.Fprintf(w, ", %d more not followed (the watch's bound)", wr.Untracked)
		}
		fmt.Fprintf(w, "; the verdict's connection: %s\n", endsText[s.Ends])
	} else {
		fmt.Fprintf(w, "  link: down %s, up %s; kernel %s, tcp_info %d bytes\n", m.LinkDown, m.LinkUp, m.Kernel, s.TCPInfoLen)
	}
	if l := m.Link; l != nil {
		fmt.Fprintf(w, "  made by: %s; %s\n", l.Made(), l.Why)
	}
	writeRunFailure(w, s, func(t string) string { return paint(ansiRed+ansiBold, t) })
	if t := s.Trust; t != nil {
		colour := ansiBold
		if t.Level == TrustDistorted {
			colour = ansiRed + ansiBold
		}
		fmt.Fprintf(w, "\n%s\n", paint(colour, trustText(t, &s.Meta)))
		if t.Level != TrustOK {
			fmt.Fprintf(w, "  advice: %s\n", t.Reasons[len(t.Reasons)-1].Advice)
		}
	}
	v := &s.Verdict
	fmt.Fprintf(w, "\n%s\n", paint(ansiBold, "VERDICT: "+v.Text(" — ")))
	for _, e := range v.Evidence {
		fmt.Fprintf(w, "  - %s\n", e)
	}
	sh := &s.Shares
	if s.Ends == EndsReceiving {
		fmt.Fprintf(w, "\nshares of the sending socket's time: none — only the receiving end was sampled (the chronos are the sender's)\n")
		if len(s.Windows) > 0 {
			fmt.Fprintf(w, "windows (%d × %.0f ms): %s\n", len(s.Windows), m.WindowS*1000, classVector(v.ClassShares))
			fmt.Fprintf(w, "  %s\n", strip(s.Windows))
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "\nshares of the sending socket's time:\n")
	fmt.Fprintf(w, "  sender-limited (application idle) %5.1f%%\n", 100*sh.Idle)
	fmt.Fprintf(w, "  sender-limited (send buffer)      %5.1f%%\n", 100*sh.Sndbuf)
	fmt.Fprintf(w, "  receiver-limited                  %5.1f%%\n", 100*sh.Rwnd)
	fmt.Fprintf(w, "  network-limited                   %5.1f%%\n", 100*sh.Network)
	if len(s.Windows) > 0 {
		fmt.Fprintf(w, "windows (%d × %.0f ms): %s\n", len(s.Windows), m.WindowS*1000, classVector(v.ClassShares))
		fmt.Fprintf(w, "  %s\n", strip(s.Windows))
	}
	fmt.Fprintln(w)
}

// writePeers writes each end's account.
func writePeers(w io.Writer, s *Summary, paint func(code, text string) string) {
	if s.Meta.Watch != nil {
		return // no peers of tcplab's: the watched sockets are in connections
	}
	for _, p := range s.Peers {
		fmt.Fprintf(w, "%-8s", p.Side)
		if st := p.Stats; st != nil {
			fmt.Fprintf(w, " %d messages, %.2f MB", st.Messages, float64(st.Bytes)/1e6)
			if p.Side == record.RoleReceiver {
				fmt.Fprintf(w, ", lost %d, duplicated %d, lag p50 %.1f ms p99 %.1f ms max %.1f ms", st.Lost, st.Duplicated, st.LagP50Ms, st.LagP99Ms, st.LagMaxMs)
			}
			fmt.Fprintf(w, ", %d samples", st.Samples)
			if st.MaxRSSKiB > 0 {
				fmt.Fprintf(w, "; process CPU %.2fs user + %.2fs sys, peak memory %.1f MiB", st.CPUUserS, st.CPUSysS, float64(st.MaxRSSKiB)/1024)
			}
		} else if s.fedByFeed() {
			fmt.Fprintf(w, " no stats recorded")
		} else {
			fmt.Fprintf(w, " %s: sampled by tcplab through sock_diag", map[record.Side]string{record.RoleSender: "the client's side", record.RoleReceiver: "the server's side"}[p.Side])
		}
		if so := p.Socket; so != nil {
			fmt.Fprintf(w, "\n         socket: %s, sndbuf %d, rcvbuf %d, nodelay %v, mss %d", so.Congestion, so.Sndbuf, so.Rcvbuf, so.NoDelay, so.MSS)
			if so.MaxPacingRate > 0 {
				fmt.Fprintf(w, ", max pacing %.2f Mbit/s", float64(so.MaxPacingRate)*8/1e6)
			}
		}
		if lc := p.Lifecycle; lc != nil {
			fmt.Fprintf(w, "\n         lifecycle: handshake %.2f ms, first byte after %.1f ms, idle after the last byte %.1f ms, session %.2f s, %d connection(s), reused %v",
				lc.HandshakeMs, lc.IdleBeforeFirstMs, lc.IdleAfterLastMs, lc.SessionS, lc.Connections, lc.Reused)
		}
		if p.Closed != "" {
			fmt.Fprintf(w, "\n         closed with: %s", p.Closed)
		}
		for _, e := range p.Errors {
			fmt.Fprintf(w, "\n         error: %s", e)
		}
		fmt.Fprintln(w)
	}
}

// writeMessages writes the message accounting, lag per second, connections, disconnects and the timeline.
func writeMessages(w io.Writer, s *Summary, paint func(code, text string) string) {
	mm := &s.Messages
	feed := s.fedByFeed()
	if feed {
		fmt.Fprintf(w, "\nmessages: sent %d, delivered %d, lost (gaps) %d, duplicated %d, dropped unsent %d, undelivered %d\n",
			mm.Sent, mm.Delivered, mm.Lost, mm.Duplicated, mm.Dropped, mm.Undelivered)
		fmt.Fprintf(w, "          %d connection(s), %d reconnect(s), %d policy reset(s); lag p50 %.1f ms p99 %.1f ms max %.1f ms\n",
			mm.Connections, mm.Reconnects, mm.Resets, mm.LagP50Ms, mm.LagP99Ms, mm.LagMaxMs)
	}
	if len(s.LagOverTime) > 0 {
		fmt.Fprint(w, "lag per second (messages read, p99):")
		for i, l := range s.LagOverTime {
			if i%6 == 0 {
				fmt.Fprint(w, "\n ")
			}
			fmt.Fprintf(w, " %3.0fs %6d %8.1fms", l.T, l.Messages, l.P99Ms)
		}
		fmt.Fprintln(w)
	}
	switch {
	case len(s.Connections) == 0:
	case feed:
		const maxLines = 20
		fmt.Fprintln(w, "\nconnections (conn client: verdict, sent → delivered, lost, how it ended):")
		for i, c := range s.Connections {
			if i == maxLines {
				fmt.Fprintf(w, "  … %d more in report.json\n", len(s.Connections)-maxLines)
				break
			}
			sent, got, lost := connCounts(&c)
			fmt.Fprintf(w, "  %4d %4d: %-17s %d → %d, lost %d, %s%s\n", c.Conn, c.Client, c.Verdict, sent, got, lost, connEnd(&c), reverseText(&c))
		}
	default:
		// Sampled through sock_diag: each connection's verdict and which
		// side sent its data; the lifecycle is the wire's table below.
		counts := map[Class]int{}
		for _, c := range s.Connections {
			counts[c.Verdict]++
		}
		var parts []string
		for _, cl := range Classes {
			if n := counts[cl]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", cl, n))
			}
		}
		fmt.Fprintf(w, "\nconnections sampled: %d (%s); unknown: too short to classify or not sampled twice\n", len(s.Connections), strings.Join(parts, ", "))
		for _, c := range s.Connections {
			if c.Reverse != nil || c.DataFrom != "" && len(s.Connections) <= 3 {
				from := record.Side(record.RoleSender)
				if c.DataFrom != "" {
					from = c.DataFrom
				}
				fmt.Fprintf(w, "  %4d: %s, data from the %s's side%s\n", c.Conn, c.Verdict, from, reverseText(&c))
			}
		}
	}
	for _, d := range s.Disconnects {
		fmt.Fprintf(w, "disconnect at %.3fs (conn %d, client %d), noticed by the %s: %s (closed first: %s)", d.T, d.Conn, d.Client, d.Side, d.Error, d.ClosedFirst)
		if d.DetectionS > 0 {
			fmt.Fprintf(w, ", %.3fs after the failure", d.DetectionS)
		}
		fmt.Fprintln(w)
	}
	if len(s.Timeline) > 0 {
		fmt.Fprintln(w, "\ntimeline:")
		for _, t := range s.Timeline {
			fmt.Fprintf(w, "  %s\n", t)
		}
	}
}

// labHealth is the lab's own figures in one line: its CPU, the host's
// pressure and steal, the samplers' coverage (empty: not measured).
func labHealth(s *Summary) string {
	var parts []string
	if h := s.Meta.Host; h != nil {
		parts = append(parts, fmt.Sprintf("tcplab's process (link, samplers, wire) %.0f%% of a core of %d", 100*h.LabCPU, h.Cores))
		if h.CPUPressure >= 0 {
			parts = append(parts, fmt.Sprintf("tasks waiting for a CPU %.0f%% of the run", 100*h.CPUPressure))
		}
		parts = append(parts, fmt.Sprintf("steal %.1f%%", 100*h.Steal))
	}
	var missed []string
	samplerCPU := 0.0
	for _, p := range s.Peers {
		st := p.Stats
		if st == nil {
			continue
		}
		samplerCPU += st.SampleCPUS
		if cpu := st.CPUUserS + st.CPUSysS; cpu > 0 && s.Meta.DurationS > 0 {
			parts = append(parts, fmt.Sprintf("%s process %.0f%% of a core", p.Side, 100*cpu/s.Meta.DurationS))
		}
		if st.SampleTicks > 0 {
			missed = append(missed, fmt.Sprintf("%s %d of %d", p.Side, st.SampleTicksMissed, st.SampleTicks+st.SampleTicksMissed))
		}
	}
	if h := s.Meta.Host; h != nil {
		for _, c := range h.Samplers {
			missed = append(missed, fmt.Sprintf("%s (tcplab's sock_diag) %d of %d", c.Side, c.Missed, c.Ticks+c.Missed))
			samplerCPU += c.CPUS
		}
	}
	if wr := s.Meta.Watch; wr != nil && wr.Ticks > 0 {
		missed = append(missed, fmt.Sprintf("the watch %d of %d", wr.TicksMissed, wr.Ticks))
	}
	if t := s.Trust; t != nil && t.Coverage >= 0 {
		parts = append(parts, fmt.Sprintf("samples %.1f%% of the ticks (largest gap %.0f ms)", 100*t.Coverage, t.LargestGapMs))
	}
	if len(missed) > 0 {
		parts = append(parts, "sampler ticks missed "+strings.Join(missed, ", "))
	}
	if samplerCPU > 0 && s.Meta.DurationS > 0 {
		parts = append(parts, fmt.Sprintf("the sampler threads %.1f%% of a core", 100*samplerCPU/s.Meta.DurationS))
	}
	return strings.Join(parts, "; ")
}

// reverseText is a connection's second direction, when it carried data too.
func reverseText(c *Connection) string {
	r := c.Reverse
	if r == nil {
		return ""
	}
	return fmt.Sprintf("; the other direction (from the %s's side, %s) %s", r.From, sizeText(r.Bytes), r.Verdict)
}

// writeLink writes the link's counters and its self-check.
func writeLink(w io.Writer, s *Summary, paint func(code, text string) string) {
	m := &s.Meta
	if l := m.Link; l != nil {
		if l.NAT != "" {
			fmt.Fprintf(w, "\nnat: %s", l.NAT)
		}
		for _, d := range []struct {
			n string
			c *record.LinkCounters
		}{{"down", l.Down.Counters}, {"up", l.Up.Counters}} {
			if c := d.c; c != nil {
				fmt.Fprintf(w, "\nlink %-4s forwarded %d, lost %d, queue drops %d, partition drops %d, duplicated %d, reordered %d, corrupted %d; release lateness p50 %.3f ms p99 %.3f ms",
					d.n, c.Forwarded, c.DropLoss, c.DropQueue, c.DropBlack, c.Duplicated, c.Reordered, c.Corrupted, c.LatenessP50, c.LatenessP99)
				for _, x := range []struct {
					n string
					v uint64
				}{{"keepalive probes", c.KeepaliveProbes}, {"window probes", c.WindowProbes}, {"nat drops", c.DropNAT}, {"nat RSTs", c.NATResets}, {"reboot RSTs", c.Resets}} {
					if x.v > 0 {
						fmt.Fprintf(w, "; %s %d", x.n, x.v)
					}
				}
			}
		}
		if l.Down.Counters != nil {
			fmt.Fprintln(w)
		}
	}
}

// writeChecks writes the lab's health, the link's self-check and the
// expectations.
func writeChecks(w io.Writer, s *Summary, paint func(code, text string) string) {
	if line := labHealth(s); line != "" {
		fmt.Fprintf(w, "\nlab health: %s\n", line)
	}
	if len(s.SelfCheck) > 0 {
		fmt.Fprintln(w, "\nlink self-check (configured → measured):")
		for _, c := range s.SelfCheck {
			mark := "ok  "
			if !c.OK {
				mark = "OFF "
			}
			fmt.Fprintf(w, "  %s %s: %s → %s", mark, c.What, c.Configured, c.Measured)
			if c.Note != "" {
				fmt.Fprintf(w, " — %s", c.Note)
			}
			fmt.Fprintln(w)
		}
	}
	if len(s.Expectations) > 0 {
		fmt.Fprintln(w, "\nexpectations:")
		for _, e := range s.Expectations {
			mark := paint(ansiGreen, "PASS")
			if !e.Holds {
				mark = paint(ansiRed, "FAIL")
			}
			if e.Untrusted {
				mark = paint(ansiRed, "UNTRUSTED") + " " + mark
			}
			fmt.Fprintf(w, "  %s  %s (actual: %s)\n", mark, e.Expect, e.Actual)
		}
	}
}

// strip renders the windows' classes as one letter each: S sender, R
// receiver, N network, M mixed, ? unknown.
func strip(ws []Window) string {
	var b strings.Builder
	for _, w := range ws {
		switch w.Class {
		case SenderLimited:
			b.WriteByte('S')
		case ReceiverLimited:
			b.WriteByte('R')
		case NetworkLimited:
			b.WriteByte('N')
		case Mixed:
			b.WriteByte('M')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// WriteCompare shows two runs side by side: verdicts, shares, messages, lag
// and the path as measured.
func WriteCompare(w io.Writer, a, b *Summary) {
	row := func(name, x, y string) {
		mark := ""
		if x != y {
			mark = "  ≠"
		}
		fmt.Fprintf(w, "  %-30s %-42s %-42s%s\n", name, x, y, mark)
	}
	fmt.Fprintf(w, "  %-30s %-42s %-42s\n", "", a.Meta.Scenario+" "+a.Meta.RunID, b.Meta.Scenario+" "+b.Meta.RunID)
	row("stopped", a.Meta.StoppedText(), b.Meta.StoppedText())
	row("verdict", verdictText(&a.Verdict), verdictText(&b.Verdict))
	pct := func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
	row("sender-limited (idle)", pct(a.Shares.Idle), pct(b.Shares.Idle))
	row("sender-limited (send buffer)", pct(a.Shares.Sndbuf), pct(b.Shares.Sndbuf))
	row("receiver-limited", pct(a.Shares.Rwnd), pct(b.Shares.Rwnd))
	row("network-limited", pct(a.Shares.Network), pct(b.Shares.Network))
	n := func(v uint64) string { return fmt.Sprint(v) }
	row("messages sent", n(a.Messages.Sent), n(b.Messages.Sent))
	row("messages delivered", n(a.Messages.Delivered), n(b.Messages.Delivered))
	row("messages lost", n(a.Messages.Lost), n(b.Messages.Lost))
	row("connections ended early", fmt.Sprint(a.EndedEarly(-1)), fmt.Sprint(b.EndedEarly(-1)))
	row("resets", fmt.Sprint(a.Messages.Resets), fmt.Sprint(b.Messages.Resets))
	ms := func(v float64) string { return fmt.Sprintf("%.1f ms", v) }
	row("lag p99", ms(a.Messages.LagP99Ms), ms(b.Messages.LagP99Ms))
	row("min RTT", ms(a.Path.MinRTTMs), ms(b.Path.MinRTTMs))
	row("goodput", fmt.Sprintf("%.2f Mbit/s", a.Path.GoodputBits/1e6), fmt.Sprintf("%.2f Mbit/s", b.Path.GoodputBits/1e6))
	row("retransmitted bytes", pct(a.Path.RetransRate), pct(b.Path.RetransRate))
	pass := func(s *Summary) string {
		if len(s.Expectations) == 0 {
			return "no expectations"
		}
		if s.Passed() {
			return "all passed"
		}
		return "failed"
	}
	row("expectations", pass(a), pass(b))
}

func verdictText(v *Verdict) string {
	if v.SubCause != "" {
		return string(v.Class) + " (" + string(v.SubCause) + ")"
	}
	return string(v.Class)
}

// writeRunFailure says, above the verdict, that the run did not complete
// and so cannot pass, and shows each failed peer's last stderr lines.
func writeRunFailure(w io.Writer, s *Summary, paint func(string) string) {
	m := &s.Meta
	end := m.EndKind()
	if end == record.EndCompleted {
		return
	}
	fmt.Fprintf(w, "\n%s\n", paint(fmt.Sprintf("RUN DID NOT COMPLETE (%s): it cannot pass; the verdict below judges only what was recorded", end)))
	for _, f := range m.PeerFailures {
		fmt.Fprintf(w, "  %s\n", f)
		if len(f.Command) > 0 {
			fmt.Fprintf(w, "    command: %q\n", f.Command)
		}
		if len(f.StderrTail) > 0 {
			fmt.Fprintf(w, "    last lines of its stderr (%s):\n", f.StderrFile)
			for _, l := range f.StderrTail {
				fmt.Fprintf(w, "      | %s\n", l)
			}
		} else if f.StderrFile != "" {
			fmt.Fprintf(w, "    it wrote nothing on stderr (%s)\n", f.StderrFile)
		}
	}
}

// errWriter keeps the first write error, so a renderer made of many
// Fprintf calls can return it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
