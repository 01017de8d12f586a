package scenario

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario/units"
)

// VerdictClasses are the verdict classes an expectation can name.
var VerdictClasses = []string{"sender-limited", "receiver-limited", "network-limited", "mixed"}

// Expect is one check on the run's outcome, kept with its source text.
//
// Grammar: SUBJECT OP VALUE, separated by spaces.
//
//	verdict == receiver-limited            (== or !=; a class of VerdictClasses)
//	messages.lost == 0                     (counts: any of == != < <= > >=)
//	lag.p99 < 2s                           (durations with their unit)
//	receiver_limited >= 60%                (share of the classification windows)
//	client(0).resets == 1                  (one client's figures, over its connections)
//	client(1).max_backlog < 256KiB         (sizes with their unit)
//	phase(30s..35s).verdict == receiver-limited  (the windows inside a span of the run)
//	timeline[0].verdict == network-limited (the windows inside that timeline entry's span)
//	detection.sender < 10s                 (how long after the failure — vanish or first partition — the sender noticed)
//	rtt.min <= 51ms, retrans_rate < 1%     (the path as the sending socket measured it)
//	disconnects == 0 if sender.socket.keepalive.idle=3s
//	                                       (in a sweep: only the points where the matrix key has that value)
//
// The subjects are listed in expectSubjects (counts, durations, shares) and
// clientSubjects.
type Expect struct {
	Source  string
	Subject string // like "messages.lost" or "verdict"
	Client  int    // for client(N).… subjects; -1 otherwise
	Op      string
	Class   string  // verdict subjects
	Value   float64 // numeric subjects, in the subject's unit (count, seconds, fraction, bytes)
	// From and To bound a phase(FROM..TO).verdict or timeline[N].verdict
	// (seconds; the timeline entry's span is filled in by validation).
	From, To float64
	// Entry is N of timeline[N].verdict (-1 otherwise).
	Entry int
}

// expectKind is what a subject's value is.
type expectKind int

const (
	kindCount expectKind = iota
	kindDuration
	kindShare
	kindClass
	kindSize
)

// expectSubjects are the run-wide subjects.
var expectSubjects = map[string]expectKind{
	"verdict":              kindClass,
	"messages.sent":        kindCount,
	"messages.delivered":   kindCount,
	"messages.lost":        kindCount,
	"messages.duplicated":  kindCount,
	"messages.dropped":     kindCount,
	"messages.undelivered": kindCount,
	"disconnects":          kindCount,
	"resets":               kindCount,
	"reconnects":           kindCount,
	"connections":          kindCount,
	"lag.p50":              kindDuration,
	"lag.p99":              kindDuration,
	"lag.max":              kindDuration,
	"rtt.min":              kindDuration,
	"rtt.srtt":             kindDuration,
	"retrans_rate":         kindShare,
	"detection.sender":     kindDuration,
	"detection.receiver":   kindDuration,
	"receiver_limited":     kindShare,
	"sender_limited":       kindShare,
	"network_limited":      kindShare,
	"mixed":                kindShare,
}

// clientSubjects are the subjects of client(N).….
var clientSubjects = map[string]expectKind{
	"verdict":     kindClass, // of the client's first connection
	"resets":      kindCount,
	"lost":        kindCount,
	"delivered":   kindCount,
	"connections": kindCount,
	"disconnects": kindCount,
	"max_backlog": kindSize, // the sender's largest unsent backlog for it
}

var (
	clientRE = regexp.MustCompile(`^client\((\d+)\)\.([a-z_.0-9]+)$`)
	phaseRE  = regexp.MustCompile(`^phase\((.+?)\.\.(.+)\)\.verdict$`)
	entryRE  = regexp.MustCompile(`^timeline\[(\d+)\]\.verdict$`)
)

func subjectList() string {
	var names []string
	for k := range expectSubjects {
		names = append(names, k)
	}
	for k := range clientSubjects {
		names = append(names, "client(N)."+k)
	}
	names = append(names, "phase(FROM..TO).verdict", "timeline[N].verdict")
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ParseExpect parses one expectation.
func ParseExpect(s string) (Expect, error) {
	src := strings.TrimSpace(s)
	if _, cond, ok := strings.Cut(src, " if "); ok {
		return Expect{}, fmt.Errorf("%q holds only where %s: a condition picks points of a sweep, and this file has no matrix", src, strings.TrimSpace(cond))
	}
	f := strings.Fields(src)
	if len(f) != 3 {
		return Expect{}, fmt.Errorf("cannot read expectation %q: write SUBJECT OP VALUE, like 'verdict == receiver-limited' or 'messages.lost == 0'", src)
	}
	e := Expect{Source: src, Subject: f[0], Client: -1, Entry: -1, Op: f[1]}
	kind, ok := expectSubjects[f[0]]
	if m := clientRE.FindStringSubmatch(f[0]); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n >= MaxClients {
			return Expect{}, fmt.Errorf("client index %q in %q is outside 0..%d", m[1], src, MaxClients-1)
		}
		e.Client, e.Subject = n, m[2]
		kind, ok = clientSubjects[m[2]]
	}
	if m := phaseRE.FindStringSubmatch(f[0]); m != nil {
		a, err1 := units.ParseDuration(m[1])
		b, err2 := units.ParseDuration(m[2])
		if err1 != nil || err2 != nil || b <= a {
			return Expect{}, fmt.Errorf("phase span %q..%q in %q: give two durations, the first one smaller, like phase(20s..50s)", m[1], m[2], src)
		}
		e.Subject, e.From, e.To = "phase", time.Duration(a).Seconds(), time.Duration(b).Seconds()
		kind, ok = kindClass, true
	}
	if m := entryRE.FindStringSubmatch(f[0]); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return Expect{}, fmt.Errorf("timeline index %q in %q is not a number", m[1], src)
		}
		e.Subject, e.Entry = "phase", n
		kind, ok = kindClass, true
	}
	if !ok {
		return Expect{}, fmt.Errorf("unknown subject %q in %q; accepted: %s", f[0], src, subjectList())
	}
	ops := []string{"==", "!=", "<", "<=", ">", ">="}
	if kind == kindClass {
		ops = ops[:2]
	}
	if !oneOf(e.Op, ops) {
		return Expect{}, fmt.Errorf("unknown operator %q in %q; accepted for %s: %s", e.Op, src, f[0], strings.Join(ops, " "))
	}
	v := f[2]
	switch kind {
	case kindClass:
		if !oneOf(v, VerdictClasses) {
			return Expect{}, fmt.Errorf("unknown verdict %q in %q; accepted: %s", v, src, strings.Join(VerdictClasses, ", "))
		}
		e.Class = v
	case kindCount:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Expect{}, fmt.Errorf("%q in %q is not a count (a whole number like 0 or 12)", v, src)
		}
		e.Value = float64(n)
	case kindDuration:
		d, err := units.ParseDuration(v)
		if err != nil {
			return Expect{}, fmt.Errorf("%q in %q: %v", v, src, err)
		}
		e.Value = time.Duration(d).Seconds()
	case kindSize:
		z, err := units.ParseSize(v)
		if err != nil {
			return Expect{}, fmt.Errorf("%q in %q: %v", v, src, err)
		}
		e.Value = float64(z)
	case kindShare:
		p, err := units.ParsePercent(v)
		if err != nil {
			return Expect{}, fmt.Errorf("%q in %q: %v", v, src, err)
		}
		e.Value = float64(p) / 100
	}
	return e, nil
}

// Check evaluates the expectation on a run's summary.
func (e Expect) Check(sum *report.Summary) report.ExpectResult {
	res := report.ExpectResult{Expect: e.Source}
	kind := expectSubjects[e.Subject]
	var class string
	var val float64
	switch {
	case e.Subject == "phase":
		kind, class = kindClass, phaseClass(sum, e.From, e.To)
	case e.Client >= 0:
		kind = clientSubjects[e.Subject]
		class, val = clientValue(sum, e.Client, e.Subject)
	default:
		class, val = runValue(sum, e.Subject)
	}
	switch kind {
	case kindClass:
		res.Actual = class
		res.Holds = (class == e.Class) == (e.Op == "==")
		return res
	case kindCount:
		res.Actual = strconv.FormatFloat(val, 'f', -1, 64)
	case kindDuration:
		res.Actual = time.Duration(val * 1e9).Round(time.Microsecond).String()
		if math.IsNaN(val) {
			res.Actual = "none (no such disconnect)"
		}
	case kindShare:
		res.Actual = strconv.FormatFloat(100*val, 'f', 1, 64) + "%"
	case kindSize:
		res.Actual = units.Size(val).String()
	}
	const eps = 1e-9
	switch e.Op {
	case "==":
		res.Holds = math.Abs(val-e.Value) < eps
	case "!=":
		res.Holds = math.Abs(val-e.Value) >= eps
	case "<":
		res.Holds = val < e.Value
	case "<=":
		res.Holds = val <= e.Value+eps
	case ">":
		res.Holds = val > e.Value
	case ">=":
		res.Holds = val >= e.Value-eps
	}
	return res
}

func runValue(sum *report.Summary, subject string) (string, float64) {
	m := &sum.Messages
	switch subject {
	case "verdict":
		return sum.Verdict.Class, 0
	case "messages.sent":
		return "", float64(m.Sent)
	case "messages.delivered":
		return "", float64(m.Delivered)
	case "messages.lost":
		return "", float64(m.Lost)
	case "messages.duplicated":
		return "", float64(m.Duplicated)
	case "messages.dropped":
		return "", float64(m.Dropped)
	case "messages.undelivered":
		return "", float64(m.Undelivered)
	case "disconnects":
		return "", float64(sum.EndedEarly(-1))
	case "resets":
		return "", float64(m.Resets)
	case "reconnects":
		return "", float64(m.Reconnects)
	case "connections":
		return "", float64(m.Connections)
	case "lag.p50":
		return "", m.LagP50Ms / 1e3
	case "lag.p99":
		return "", m.LagP99Ms / 1e3
	case "lag.max":
		return "", m.LagMaxMs / 1e3
	case "rtt.min":
		return "", sum.Path.MinRTTMs / 1e3
	case "rtt.srtt":
		return "", sum.Path.SRTTMs / 1e3
	case "retrans_rate":
		return "", sum.Path.RetransRate
	case "detection.sender", "detection.receiver":
		side := strings.TrimPrefix(subject, "detection.")
		for _, d := range sum.Disconnects {
			if d.Side == side && d.DetectionS > 0 {
				return "", d.DetectionS
			}
		}
		return "", math.NaN()
	case "receiver_limited", "sender_limited", "network_limited", "mixed":
		return "", sum.Verdict.ClassShares[strings.ReplaceAll(subject, "_", "-")]
	}
	return "", 0
}

func clientValue(sum *report.Summary, client int, subject string) (string, float64) {
	class := report.Unknown
	var resets, lost, delivered, conns, backlog float64
	first := true
	for _, c := range sum.Connections {
		if c.Client != client {
			continue
		}
		if first {
			class, first = c.Verdict, false
		}
		conns++
		if c.Reset {
			resets++
		}
		if c.Sender != nil {
			backlog = max(backlog, float64(c.Sender.MaxBacklog))
		}
		if c.Receiver != nil {
			lost += float64(c.Receiver.Lost)
			delivered += float64(c.Receiver.Messages)
		}
	}
	switch subject {
	case "verdict":
		return class, 0
	case "resets":
		return "", resets
	case "lost":
		return "", lost
	case "delivered":
		return "", delivered
	case "connections":
		return "", conns
	case "disconnects":
		return "", float64(sum.EndedEarly(client))
	case "max_backlog":
		return "", backlog
	}
	return "", 0
}

// phaseClass is the class of the verdict connection's windows that lie
// inside [from, to] seconds: the one covering report.DominantShare of them,
// else mixed; unknown without windows there.
func phaseClass(sum *report.Summary, from, to float64) string {
	n := 0
	count := map[string]int{}
	for _, w := range sum.Windows {
		if w.Start >= from-1e-9 && w.End <= to+1e-9 {
			count[w.Class]++
			n++
		}
	}
	if n == 0 {
		return report.Unknown
	}
	for c, k := range count {
		if float64(k)/float64(n) >= report.DominantShare && c != report.Mixed {
			return c
		}
	}
	return report.Mixed
}
