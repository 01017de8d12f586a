package report

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/scenario/units"
)

// MaxClientIndex bounds N of client(N): one more than a scenario's most
// clients would be refused by the scenario anyway.
const MaxClientIndex = 5000

// VerdictClasses are the verdict classes an expectation can name.
var VerdictClasses = []Class{SenderLimited, ReceiverLimited, NetworkLimited, Mixed}

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
// clientSubjects, each with how its value is read from a Summary.
type Expect struct {
	Source  string
	Subject string // like "messages.lost" or "verdict"
	Client  int    // for client(N).… subjects; -1 otherwise
	Op      string
	Class   Class   // verdict subjects
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

// runSubject is a run-wide subject: what its value is and how it is read
// from a summary (a class for kindClass, else a number in the kind's unit).
type runSubject struct {
	kind  expectKind
	value func(sum *Summary) (class Class, v float64)
	// why says why the value is NaN (not judged): no such event, or the
	// records cannot tell.
	why func(sum *Summary) string
}

func count(f func(sum *Summary) int) runSubject {
	return runSubject{kindCount, func(sum *Summary) (Class, float64) { return "", float64(f(sum)) }, nil}
}

func seconds(f func(sum *Summary) float64) runSubject {
	return runSubject{kindDuration, func(sum *Summary) (Class, float64) { return "", f(sum) }, nil}
}

func classShare(class Class) runSubject {
	return runSubject{kindShare, func(sum *Summary) (Class, float64) { return "", sum.Verdict.ClassShares[class] }, nil}
}

func detection(side record.Side) runSubject {
	return runSubject{kindDuration, func(sum *Summary) (Class, float64) {
		for _, d := range sum.Disconnects {
			if d.Side == side && d.DetectionS > 0 {
				return "", d.DetectionS
			}
		}
		return "", math.NaN()
	}, func(*Summary) string { return "none (no such disconnect)" }}
}

// connections is the number of connections: as the wire saw them, or (a
// run recorded before the wire was followed) as the built-in peers did.
func connections(sum *Summary) (Class, float64) {
	if sum.Wire != nil {
		if !sum.Wire.Complete() {
			return "", math.NaN()
		}
		return "", float64(sum.Wire.Connections)
	}
	return "", float64(sum.Messages.Connections)
}

// expectSubjects are the run-wide subjects: the one table of their names,
// kinds and values.
var expectSubjects = map[string]runSubject{
	"verdict":                       {kindClass, func(sum *Summary) (Class, float64) { return sum.Verdict.Class, 0 }, nil},
	"messages.sent":                 count(func(sum *Summary) int { return int(sum.Messages.Sent) }),
	"messages.delivered":            count(func(sum *Summary) int { return int(sum.Messages.Delivered) }),
	"messages.lost":                 count(func(sum *Summary) int { return int(sum.Messages.Lost) }),
	"messages.duplicated":           count(func(sum *Summary) int { return int(sum.Messages.Duplicated) }),
	"messages.dropped":              count(func(sum *Summary) int { return int(sum.Messages.Dropped) }),
	"messages.undelivered":          count(func(sum *Summary) int { return int(sum.Messages.Undelivered) }),
	"disconnects":                   count(func(sum *Summary) int { return sum.EndedEarly(-1) }),
	"resets":                        count(func(sum *Summary) int { return int(sum.Messages.Resets) }),
	"reconnects":                    count(func(sum *Summary) int { return int(sum.Messages.Reconnects) }),
	"connections":                   {kindCount, connections, wireUnjudged},
	"connections.reused":            wireCount(func(w *WireSummary) int { return w.Reused }),
	"connections.closed_by(client)": wireCount(func(w *WireSummary) int { return w.ClosedByClient }),
	"connections.closed_by(server)": wireCount(func(w *WireSummary) int { return w.ClosedByServer }),
	"connections.reset":             wireCount(func(w *WireSummary) int { return w.Resets }),
	"connections.refused":           wireCount(func(w *WireSummary) int { return w.Refused }),
	"connections.open":              wireCount(func(w *WireSummary) int { return w.Open }),
	"requests":                      httpClient(kindCount, func(c *record.HTTPStats) float64 { return float64(c.Requests) }),
	"requests.ok":                   httpClient(kindCount, func(c *record.HTTPStats) float64 { return float64(c.OK) }),
	"requests.failed":               httpClient(kindCount, func(c *record.HTTPStats) float64 { return float64(c.Failed) }),
	"requests.latency.p50":          httpClient(kindDuration, func(c *record.HTTPStats) float64 { return c.LatencyP50Ms / 1e3 }),
	"requests.latency.p99":          httpClient(kindDuration, func(c *record.HTTPStats) float64 { return c.LatencyP99Ms / 1e3 }),
	"exchanges":                     wireCount(func(w *WireSummary) int { return w.Exchanges }),
	"handshake.p50":                 wireMs(func(w *WireSummary) (float64, bool) { return w.HandshakeMs.P50, w.HandshakeMs.N > 0 }),
	"handshake.p99":                 wireMs(func(w *WireSummary) (float64, bool) { return w.HandshakeMs.P99, w.HandshakeMs.N > 0 }),
	"handshake.max":                 wireMs(func(w *WireSummary) (float64, bool) { return w.HandshakeMs.Max, w.HandshakeMs.N > 0 }),
	"first_byte.p50":                wireMs(func(w *WireSummary) (float64, bool) { return w.TTFBMs.P50, w.TTFBMs.N > 0 }),
	"first_byte.p99":                wireMs(func(w *WireSummary) (float64, bool) { return w.TTFBMs.P99, w.TTFBMs.N > 0 }),
	"idle.max":                      wireMs(func(w *WireSummary) (float64, bool) { return w.IdleMaxMs, w.Connections > 0 }),
	"session.max":                   wireMs(func(w *WireSummary) (float64, bool) { return w.SessionMs.Max, w.SessionMs.N > 0 }),
	"lag.p50":                       seconds(func(sum *Summary) float64 { return sum.Messages.LagP50Ms / 1e3 }),
	"lag.p99":                       seconds(func(sum *Summary) float64 { return sum.Messages.LagP99Ms / 1e3 }),
	"lag.max":                       seconds(func(sum *Summary) float64 { return sum.Messages.LagMaxMs / 1e3 }),
	"rtt.min":                       seconds(func(sum *Summary) float64 { return sum.Path.MinRTTMs / 1e3 }),
	"rtt.srtt":                      seconds(func(sum *Summary) float64 { return sum.Path.SRTTMs / 1e3 }),
	"retrans_rate":                  {kindShare, func(sum *Summary) (Class, float64) { return "", sum.Path.RetransRate }, nil},
	"detection.sender":              detection("sender"),
	"detection.receiver":            detection("receiver"),
	"receiver_limited":              classShare(ReceiverLimited),
	"sender_limited":                classShare(SenderLimited),
	"network_limited":               classShare(NetworkLimited),
	"mixed":                         classShare(Mixed),
}

// clientFigures are one client's figures over its connections.
type clientFigures struct {
	class                                   Class
	resets, lost, delivered, conns, backlog float64
	disconnects                             int
}

// clientSubject is a subject of client(N).…
type clientSubject struct {
	kind  expectKind
	value func(c *clientFigures) (class Class, v float64)
}

// clientSubjects are the subjects of client(N).…: the one table of them.
var clientSubjects = map[string]clientSubject{
	"verdict":     {kindClass, func(c *clientFigures) (Class, float64) { return c.class, 0 }}, // of the client's first connection
	"resets":      {kindCount, func(c *clientFigures) (Class, float64) { return "", c.resets }},
	"lost":        {kindCount, func(c *clientFigures) (Class, float64) { return "", c.lost }},
	"delivered":   {kindCount, func(c *clientFigures) (Class, float64) { return "", c.delivered }},
	"connections": {kindCount, func(c *clientFigures) (Class, float64) { return "", c.conns }},
	"disconnects": {kindCount, func(c *clientFigures) (Class, float64) { return "", float64(c.disconnects) }},
	"max_backlog": {kindSize, func(c *clientFigures) (Class, float64) { return "", c.backlog }}, // the sender's largest unsent backlog for it
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
	rs, ok := expectSubjects[f[0]]
	kind := rs.kind
	if m := clientRE.FindStringSubmatch(f[0]); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n >= MaxClientIndex {
			return Expect{}, fmt.Errorf("client index %q in %q is outside 0..%d", m[1], src, MaxClientIndex-1)
		}
		e.Client, e.Subject = n, m[2]
		var cs clientSubject
		cs, ok = clientSubjects[m[2]]
		kind = cs.kind
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
	if !slices.Contains(ops, e.Op) {
		return Expect{}, fmt.Errorf("unknown operator %q in %q; accepted for %s: %s", e.Op, src, f[0], strings.Join(ops, " "))
	}
	v := f[2]
	switch kind {
	case kindClass:
		if !slices.Contains(VerdictClasses, Class(v)) {
			return Expect{}, fmt.Errorf("unknown verdict %q in %q; accepted: %s", v, src, strings.Join(vocab.Names(VerdictClasses), ", "))
		}
		e.Class = Class(v)
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
func (e Expect) Check(sum *Summary) ExpectResult {
	res := ExpectResult{Expect: e.Source}
	var kind expectKind
	var class Class
	var val float64
	var why func(*Summary) string
	switch {
	case e.Subject == "phase":
		kind, class = kindClass, phaseClass(sum, e.From, e.To)
	case e.Client >= 0:
		cs := clientSubjects[e.Subject]
		kind = cs.kind
		c := figuresOf(sum, e.Client)
		class, val = cs.value(&c)
	default:
		rs := expectSubjects[e.Subject]
		kind, why = rs.kind, rs.why
		class, val = rs.value(sum)
	}
	switch kind {
	case kindClass:
		res.Actual = string(class)
		res.Holds = (class == e.Class) == (e.Op == "==")
		return res
	case kindCount:
		res.Actual = strconv.FormatFloat(val, 'f', -1, 64)
	case kindDuration:
		res.Actual = time.Duration(val * 1e9).Round(time.Microsecond).String()
	case kindShare:
		res.Actual = strconv.FormatFloat(100*val, 'f', 1, 64) + "%"
	case kindSize:
		res.Actual = units.Size(val).String()
	}
	if math.IsNaN(val) {
		res.Actual = "unknown"
		if why != nil {
			res.Actual = why(sum)
		}
		return res // not judged: does not hold
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

// figuresOf adds up one client's connections.
func figuresOf(sum *Summary, client int) clientFigures {
	c := clientFigures{class: Unknown, disconnects: sum.EndedEarly(client)}
	first := true
	for _, conn := range sum.Connections {
		if conn.Client != client {
			continue
		}
		if first {
			c.class, first = conn.Verdict, false
		}
		c.conns++
		if conn.Reset {
			c.resets++
		}
		if conn.Sender != nil {
			c.backlog = max(c.backlog, float64(conn.Sender.MaxBacklog))
		}
		if conn.Receiver != nil {
			c.lost += float64(conn.Receiver.Lost)
			c.delivered += float64(conn.Receiver.Messages)
		}
	}
	return c
}

// phaseClass is the class of the verdict connection's windows that lie
// inside [from, to] seconds: the one covering DominantShare of them,
// else mixed; unknown without windows there.
func phaseClass(sum *Summary, from, to float64) Class {
	n := 0
	count := map[Class]int{}
	for _, w := range sum.Windows {
		if w.Start >= from-1e-9 && w.End <= to+1e-9 {
			count[w.Class]++
			n++
		}
	}
	if n == 0 {
		return Unknown
	}
	for c, k := range count {
		if float64(k)/float64(n) >= DominantShare && c != Mixed {
			return c
		}
	}
	return Mixed
}
