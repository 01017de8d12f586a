package report

import (
	"fmt"
	"math"
	"sort"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// SchemaVersion is the version of report.json's layout.
const SchemaVersion = 1

// Peer is one peer's account.
type Peer struct {
	Side        record.Side             `json:"side"`
	Socket      *record.EffectiveSocket `json:"socket,omitempty"`
	Stats       *record.Stats           `json:"stats,omitempty"`
	HandshakeMs float64                 `json:"handshake_ms,omitempty"`
	Closed      string                  `json:"closed,omitempty"` // error at close, empty when clean
	Errors      []string                `json:"errors,omitempty"`
	Lifecycle   *Lifecycle              `json:"lifecycle,omitempty"`
}

// Lifecycle is a connection's life as the third seed asks for it.
type Lifecycle struct {
	HandshakeMs       float64 `json:"handshake_ms"`
	IdleBeforeFirstMs float64 `json:"idle_before_first_byte_ms"`
	IdleAfterLastMs   float64 `json:"idle_after_last_byte_ms"`
	SessionS          float64 `json:"session_s"`
	Connections       int     `json:"connections"`
	// Reused: the connection carried more than one message (no churn).
	Reused bool `json:"reused"`
}

// Connection is one connection's account: both ends' figures, how it
// ended, and its own verdict.
type Connection struct {
	Conn   int `json:"conn"`
	Client int `json:"client"`
	// Sender and Receiver are each end's figures for this connection.
	Sender   *record.Stats `json:"sender,omitempty"`
	Receiver *record.Stats `json:"receiver,omitempty"`
	// SenderClosed and ReceiverClosed are the errors each end saw ("" clean).
	SenderClosed   string `json:"sender_closed,omitempty"`
	ReceiverClosed string `json:"receiver_closed,omitempty"`
	Reset          bool   `json:"reset_by_policy,omitempty"`
	// DataFrom is set to "receiver" where the receiver's socket sent the
	// bulk of the bytes: that socket is the one classified.
	DataFrom  record.Side `json:"data_from,omitempty"`
	Lifecycle *Lifecycle  `json:"lifecycle,omitempty"`
	// Reverse classifies the other direction too, where it carried data
	// as well (at least 64 KiB and a tenth of the main direction's).
	Reverse  *ReverseVerdict `json:"reverse,omitempty"`
	Verdict  Class           `json:"verdict"`
	SubCause SubCause        `json:"sub_cause,omitempty"`
	// Shares is the sending socket's time split (kernel chronos).
	Shares Shares `json:"shares"`
}

// ReverseVerdict is the verdict of a connection's second direction.
type ReverseVerdict struct {
	// From is the side whose socket sent that direction's data.
	From     record.Side `json:"from"`
	Bytes    uint64      `json:"bytes"`
	Verdict  Class       `json:"verdict"`
	SubCause SubCause    `json:"sub_cause,omitempty"`
}

// Both directions carry data when the second carried at least
// reverseMinBytes and reverseMinShare of the first.
const (
	reverseMinBytes = 64 << 10
	reverseMinShare = 0.1
)

// addReverse classifies the second direction of the connections where both
// carried data.
func (sum *Summary) addReverse(sndBy, rcvBy map[int][]tcpinfo.Sample, turned map[int]bool, window int64) {
	for i := range sum.Connections {
		c := &sum.Connections[i]
		main, other := sentBytes(sndBy[c.Conn]), sentBytes(rcvBy[c.Conn])
		if other < reverseMinBytes || float64(other) < reverseMinShare*float64(main) {
			continue
		}
		from := record.Side(record.RoleReceiver)
		if turned[c.Conn] {
			from = record.RoleSender
		}
		_, _, v := Classify(rcvBy[c.Conn], sndBy[c.Conn], window)
		c.Reverse = &ReverseVerdict{From: from, Bytes: other, Verdict: v.Class, SubCause: v.SubCause}
	}
}

// PathMeasured is what the sending socket of the verdict connection
// measured of the path over the run.
type PathMeasured struct {
	MinRTTMs    float64 `json:"min_rtt_ms"`
	SRTTMs      float64 `json:"srtt_mean_ms"`
	Retransmits uint64  `json:"retransmits"`
	RetransRate float64 `json:"retrans_rate"` // retransmitted / sent bytes
	GoodputBits float64 `json:"goodput_bits"` // bytes acked × 8 / span
	// LossBurst is the mean number of segments retransmitted per loss
	// event, events that shared a sampling interval told apart as a
	// Poisson count would have them (0: fewer than minLossEvents events).
	// Near 1: losses came one at a time (random loss); 2 or more: in
	// bursts (a Gilbert-Elliott channel).
	LossBurst float64 `json:"loss_burst,omitempty"`
}

// minLossEvents is the fewest sampling intervals with a retransmission
// from which a run's loss burst is estimated.
const minLossEvents = 10

// lossBurst estimates the mean retransmissions per loss event from the
// sending socket's samples: with λ retransmits per interval on average and
// a share f of intervals holding any, events arrive at μ = −ln(1 − f) per
// interval and each carries λ / μ. Measured on a 20 Mbit/s link (50 ms
// samples): random 1% loss 1.05–1.1, Gilbert-Elliott of mean burst 5:
// 3.3–6.3.
func lossBurst(snd []tcpinfo.Sample) float64 {
	if len(snd) < 2 {
		return 0
	}
	var total uint64
	nonzero := 0
	for i := 1; i < len(snd); i++ {
		if a, b := snd[i-1].Info.TotalRetrans, snd[i].Info.TotalRetrans; b > a {
			nonzero++
			total += uint64(b - a)
		}
	}
	n := float64(len(snd) - 1)
	if nonzero < minLossEvents || nonzero == len(snd)-1 {
		return 0 // too few events, or every interval had some: no telling them apart
	}
	mu := -math.Log(1 - float64(nonzero)/n)
	return float64(total) / n / mu
}

// LagSecond is one second of the run as the receiver saw it.
type LagSecond struct {
	T float64 `json:"t_s"` // the second's start
	record.LagPoint
}

// Disconnect is a connection that ended before the run did.
type Disconnect struct {
	Conn   int         `json:"conn"`
	Client int         `json:"client"`
	T      float64     `json:"t_s"`
	Side   record.Side `json:"side"`  // who noticed
	Error  string      `json:"error"` // EOF, ECONNRESET, a policy reset…
	// ClosedFirst is the side that closed first (its close came earliest).
	ClosedFirst record.Side `json:"closed_first"`
	// DetectionS is how long after the failure (the receiver's vanish or
	// the first partition) this side noticed.
	DetectionS float64 `json:"detection_s,omitempty"`
}

// Accounting is what happened to the messages, over the run.
type Accounting struct {
	Sent        uint64 `json:"sent"`        // written to the socket by the sender
	Delivered   uint64 `json:"delivered"`   // read by the receiver
	Lost        uint64 `json:"lost"`        // gaps in the sequence at the receiver
	Duplicated  uint64 `json:"duplicated"`  // seen again at the receiver
	Dropped     uint64 `json:"dropped"`     // produced, discarded unsent (a reset)
	Undelivered uint64 `json:"undelivered"` // written but never read (in flight or in buffers at a disconnect or the end)
	// Connections is the number of connections over the run; Reconnects
	// those beyond each client's first; Resets the sender's policy resets.
	Connections int `json:"connections"`
	Reconnects  int `json:"reconnects"`
	Resets      int `json:"resets"`
	// Lag of the delivered messages, production → read.
	LagP50Ms float64 `json:"lag_p50_ms"`
	LagP99Ms float64 `json:"lag_p99_ms"`
	LagMaxMs float64 `json:"lag_max_ms"`
}

// ExpectResult is the outcome of one expectation.
type ExpectResult struct {
	Expect string `json:"expect"`
	Holds  bool   `json:"holds"`
	Actual string `json:"actual"`
	// Untrusted: the lab distorted the run (trust), so whatever the check
	// says does not count.
	Untrusted bool `json:"untrusted,omitempty"`
}

// Summary is the report of one run as data; every format renders it.
type Summary struct {
	Schema     int         `json:"schema"`
	Meta       record.Meta `json:"run"`
	TCPInfoLen int         `json:"tcp_info_len"`
	Verdict    Verdict     `json:"verdict"`
	Shares     Shares      `json:"shares"`
	Windows    []Window    `json:"windows"`
	Peers      []Peer      `json:"peers"`
	// SelfCheck puts what the link measurably did beside its configuration.
	SelfCheck []Check    `json:"link_self_check"`
	Messages  Accounting `json:"messages"`
	// VerdictConn is the connection the verdict and windows describe: the
	// one that carried the most data.
	VerdictConn int `json:"verdict_conn"`
	// Ends is which ends of the verdict's connection were sampled: a run
	// samples both; a watch usually has one (empty: a report from before
	// it was kept, or nothing sampled).
	Ends        Ends         `json:"ends,omitempty"`
	Connections []Connection `json:"connections"`
	// Wire is every connection as the link saw it (nil: a run recorded
	// before connections.jsonl).
	Wire *WireSummary `json:"wire,omitempty"`
	// Trust is the lab's verdict on itself: how far the verdict can be
	// believed, with each reason and its figure (nil: not judged).
	Trust *Trust `json:"trust,omitempty"`
	// HTTP is the built-in HTTP peers' account (nil: none ran).
	HTTP *HTTPSummary `json:"http,omitempty"`
	// LagOverTime is the receiver's lag and message rate per second.
	LagOverTime []LagSecond `json:"lag_over_time"`
	// Path is the path as the verdict connection measured it.
	Path         PathMeasured   `json:"path"`
	Disconnects  []Disconnect   `json:"disconnects"`
	Timeline     []string       `json:"timeline"`
	Expectations []ExpectResult `json:"expectations"`
	// Passed: the run completed and every expectation held (what the exit
	// code says: 0).
	Pass bool `json:"passed"`
	// Charts are report.html's series, computed from the samples by Build
	// (not in report.json: the samples are in the run directory).
	Charts *Charts `json:"-"`
}

// fedByFeed says whether a built-in feed ran (its peers recorded their
// message accounting): a run of programs or HTTP peers has no messages.
func (s *Summary) fedByFeed() bool {
	for _, c := range s.Connections {
		if c.Sender != nil || c.Receiver != nil {
			return true
		}
	}
	return s.Messages.Sent > 0 || s.Messages.Delivered > 0 || len(s.Connections) == 0 && s.HTTP == nil && s.Wire == nil
}

// EndedEarly counts the connections (of one client, or all with client -1)
// that ended before the run did, once each whichever side noticed.
func (s *Summary) EndedEarly(client int) int {
	seen := map[int]bool{}
	for _, d := range s.Disconnects {
		if client < 0 || d.Client == client {
			seen[d.Conn] = true
		}
	}
	return len(seen)
}

// Passed reports whether the run completed (EndCompleted), the lab did not
// distort it (trust), and every expectation held.
func (s *Summary) Passed() bool {
	if s.Meta.EndKind() != record.EndCompleted || s.Trust != nil && s.Trust.Level == TrustDistorted {
		return false
	}
	for _, e := range s.Expectations {
		if !e.Holds {
			return false
		}
	}
	return true
}

// Build makes the Summary of a run from its recorded samples and events.
func Build(meta record.Meta, samples []tcpinfo.Sample, events []record.Event, window int64) Summary {
	sndBy, rcvBy := samplesByConn(samples)
	turned := orientByData(sndBy, rcvBy)
	sum := verdictAndPath(meta, sndBy, rcvBy, window)
	if turned[sum.VerdictConn] {
		sum.Verdict.Evidence = append([]string{"the data flowed from the receiver's side (receiver → sender: an HTTP server's responses, a program answering): its socket is the sending socket classified here"}, sum.Verdict.Evidence...)
	}
	firstClose := sum.addConnections(events, sndBy, rcvBy, window)
	for i := range sum.Connections {
		if turned[sum.Connections[i].Conn] {
			sum.Connections[i].DataFrom = record.RoleReceiver
		}
	}
	sum.addReverse(sndBy, rcvBy, turned, window)
	sum.addDisconnects(events, firstClose)
	sum.addLagAndTimeline(events)
	sum.addPeers(events)
	sum.Charts = buildCharts(&sum, sndBy, rcvBy, events)
	return sum
}

// sentBytes is what a socket's last sample says it has sent and had
// acknowledged (0: no samples).
func sentBytes(ss []tcpinfo.Sample) uint64 {
	if len(ss) == 0 {
		return 0
	}
	return ss[len(ss)-1].Info.BytesAcked
}

// orientByData makes, for each connection, the socket that sent the bulk of
// its bytes the one classified: where the receiver's socket sent more than
// the sender's (an HTTP server's responses, a program that talks back), the
// two ends' samples trade places. It returns the connections so turned.
func orientByData(sndBy, rcvBy map[int][]tcpinfo.Sample) map[int]bool {
	turned := map[int]bool{}
	for id, rs := range rcvBy {
		if len(sndBy[id]) == 0 {
			continue // one end sampled: it is where its data says (a watch)
		}
		if sentBytes(rs) > sentBytes(sndBy[id]) {
			sndBy[id], rcvBy[id] = rs, sndBy[id]
			turned[id] = true
		}
	}
	return turned
}

// samplesByConn splits the samples by side and connection, each in time
// order.
func samplesByConn(samples []tcpinfo.Sample) (sndBy, rcvBy map[int][]tcpinfo.Sample) {
	sndBy, rcvBy = map[int][]tcpinfo.Sample{}, map[int][]tcpinfo.Sample{}
	watched := map[int][]tcpinfo.Sample{}
	for _, s := range samples {
		switch s.Side {
		case record.RoleSender:
			sndBy[s.Conn] = append(sndBy[s.Conn], s)
		case record.RoleReceiver:
			rcvBy[s.Conn] = append(rcvBy[s.Conn], s)
		case record.SideWatched:
			watched[s.Conn] = append(watched[s.Conn], s)
		}
	}
	byT := func(ss []tcpinfo.Sample) { sort.SliceStable(ss, func(i, j int) bool { return ss[i].T < ss[j].T }) }
	for _, ss := range sndBy {
		byT(ss)
	}
	for _, ss := range rcvBy {
		byT(ss)
	}
	// A watched socket (tcplab watch: one end on the host) is the sending
	// end if it had more acknowledged than it received, else the
	// receiving end.
	for id, ss := range watched {
		byT(ss)
		if last := &ss[len(ss)-1].Info; last.BytesReceived > last.BytesAcked {
			rcvBy[id] = ss
		} else {
			sndBy[id] = ss
		}
	}
	return sndBy, rcvBy
}

// receivedBytes is what a socket's last sample says it has received.
func receivedBytes(ss []tcpinfo.Sample) uint64 {
	if len(ss) == 0 {
		return 0
	}
	return ss[len(ss)-1].Info.BytesReceived - ss[0].Info.BytesReceived
}

// verdictAndPath is the Summary's verdict (of the connection that carried
// the most data), the path as its sending socket measured it and the
// link's self-check.
func verdictAndPath(meta record.Meta, sndBy, rcvBy map[int][]tcpinfo.Sample, window int64) Summary {
	// The verdict describes the connection that carried the most data.
	// A connection of which only the receiving end was sampled (a watch)
	// counts what it received.
	busiest, most, first := 0, uint64(0), true
	conns := len(sndBy)
	consider := func(id int, n uint64) {
		if first || n > most || (n == most && id < busiest) {
			busiest, most, first = id, n, false
		}
	}
	for id, ss := range sndBy {
		consider(id, ss[len(ss)-1].Info.BytesAcked-ss[0].Info.BytesAcked)
	}
	for id, ss := range rcvBy {
		if len(sndBy[id]) == 0 {
			conns++
			consider(id, receivedBytes(ss))
		}
	}
	snd, rcv := sndBy[busiest], rcvBy[busiest]
	sum := Summary{Schema: SchemaVersion, Meta: meta, Expectations: []ExpectResult{}, VerdictConn: busiest}
	switch {
	case len(snd) > 0 && len(rcv) > 0:
		sum.Ends = EndsBoth
	case len(snd) > 0:
		sum.Ends = EndsSending
	case len(rcv) > 0:
		sum.Ends = EndsReceiving
	}
	if len(snd) > 0 {
		sum.TCPInfoLen = snd[0].Info.Len
	} else if len(rcv) > 0 {
		sum.TCPInfoLen = rcv[0].Info.Len
	}
	sum.Shares, sum.Windows, sum.Verdict = classifyEnds(snd, rcv, window)
	if sum.Windows == nil {
		sum.Windows = []Window{}
	}
	if conns > 1 {
		sum.Verdict.Evidence = append(sum.Verdict.Evidence, fmt.Sprintf("of %d connections, connection %d carried the most data; each connection's verdict is in connections", conns, busiest))
	}
	if len(snd) == 0 && len(rcv) > 1 {
		// The path as the receiving end saw it: its min_rtt (the
		// handshake's, and any data it sent) and what arrived.
		a, b := &rcv[0], &rcv[len(rcv)-1]
		if span := float64(b.T-a.T) / 1e9; span > 0 {
			sum.Path.GoodputBits = float64(receivedBytes(rcv)) * 8 / span
		}
		if b.Info.HasNotsent() {
			sum.Path.MinRTTMs = float64(b.Info.MinRTT) / 1e3
		}
	}
	if len(snd) > 1 {
		ev := series{snd, rcv}.evidence(snd[0].T, snd[len(snd)-1].T)
		last := &snd[len(snd)-1].Info
		sum.Path = PathMeasured{Retransmits: ev.Retransmits, RetransRate: ev.RetransRate, GoodputBits: ev.GoodputBits, LossBurst: lossBurst(snd)}
		if last.HasNotsent() {
			sum.Path.MinRTTMs = float64(last.MinRTT) / 1e3
		}
		var rtt float64
		for i := range snd {
			rtt += float64(snd[i].Info.RTT)
		}
		sum.Path.SRTTMs = rtt / float64(len(snd)) / 1e3
	}
	views := make([]sampleView, len(snd))
	for i := range snd {
		if snd[i].Info.HasNotsent() {
			views[i].minRTT = snd[i].Info.MinRTT
		}
	}
	var goodput float64
	if len(snd) > 1 {
		a, b := &snd[0], &snd[len(snd)-1]
		if span := float64(b.T-a.T) / 1e9; span > 0 {
			goodput = float64(b.Info.BytesAcked-a.Info.BytesAcked) * 8 / span
		}
	}
	sum.SelfCheck = selfCheck(meta.Link, views, sum.Verdict, goodput)
	if sum.SelfCheck == nil {
		sum.SelfCheck = []Check{}
	}

	return sum
}

// addConnections adds each connection (in id order) with its verdict and
// lifecycle, and the message accounting's connection counts; it returns
// each connection's first close.
func (sum *Summary) addConnections(events []record.Event, sndBy, rcvBy map[int][]tcpinfo.Sample, window int64) map[int]record.Event {
	meta := &sum.Meta
	// Connections, in id order.
	conns := map[int]*Connection{}
	get := func(e *record.Event) *Connection {
		c := conns[e.Conn]
		if c == nil {
			c = &Connection{Conn: e.Conn, Client: e.Client}
			conns[e.Conn] = c
		}
		return c
	}
	end := int64(meta.DurationS * 1e9)
	firstClose := map[int]record.Event{}
	handshake := map[int]float64{}
	for _, e := range events {
		if e.Conn < 0 || e.Side == record.SideLink {
			continue
		}
		switch e.Kind {
		case record.EventConnected:
			if e.Handshake > 0 {
				handshake[e.Conn] = float64(e.Handshake) / 1e6
			}
			get(&e)
		case record.EventStats:
			c := get(&e)
			if e.Side == record.RoleSender {
				c.Sender = e.Stats
			} else {
				c.Receiver = e.Stats
			}
		case record.EventClosed:
			c := get(&e)
			if e.T >= end {
				// Closed by the run's end: not a disconnect.
			} else if e.Side == record.RoleSender {
				c.SenderClosed = e.Error
			} else {
				c.ReceiverClosed = e.Error
			}
			if f, ok := firstClose[e.Conn]; !ok || e.T < f.T {
				firstClose[e.Conn] = e
			}
		case record.EventPolicyReset:
			get(&e).Reset = true
			sum.Messages.Resets++
		}
	}
	// A connection sampled through sock_diag (a program's, an HTTP peer's)
	// has no events of its own: its samples make it.
	for _, by := range []map[int][]tcpinfo.Sample{sndBy, rcvBy} {
		for id, ss := range by {
			if conns[id] == nil && len(ss) > 0 && ss[0].Source == tcpinfo.SourceSockDiag {
				conns[id] = &Connection{Conn: id}
			}
		}
	}
	ids := make([]int, 0, len(conns))
	for id := range conns {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	clients := map[int]bool{}
	sum.Connections = []Connection{}
	for _, id := range ids {
		c := conns[id]
		clients[c.Client] = true
		if len(sndBy[id]) > 0 || len(rcvBy[id]) > 0 {
			var v Verdict
			c.Shares, _, v = classifyEnds(sndBy[id], rcvBy[id], window)
			c.Verdict, c.SubCause = v.Class, v.SubCause
		} else {
			c.Verdict = Unknown
		}
		if st := c.Sender; st != nil {
			c.Lifecycle = lifecycle(st)
		} else if st := c.Receiver; st != nil {
			c.Lifecycle = lifecycle(st)
		}
		if c.Lifecycle != nil {
			c.Lifecycle.HandshakeMs = handshake[id]
		}
		sum.Connections = append(sum.Connections, *c)
	}
	sum.Messages.Connections = len(ids)
	sum.Messages.Reconnects = max(0, len(ids)-len(clients))

	return firstClose
}

// addDisconnects adds the connections that ended before the run's end with
// an error, and how long after the failure each side noticed.
func (sum *Summary) addDisconnects(events []record.Event, firstClose map[int]record.Event) {
	meta := &sum.Meta
	end := int64(meta.DurationS * 1e9)
	sum.Disconnects = []Disconnect{}
	for _, e := range events {
		if e.Kind == record.EventClosed && e.Error != "" && e.T < end {
			d := Disconnect{Conn: e.Conn, Client: e.Client, T: float64(e.T) / 1e9, Side: e.Side, Error: e.Error, ClosedFirst: firstClose[e.Conn].Side}
			fail := meta.FailureS
			if fail == 0 {
				fail = meta.VanishS
			}
			if fail > 0 && d.T >= fail {
				d.DetectionS = d.T - fail
			}
			sum.Disconnects = append(sum.Disconnects, d)
		}
	}
}

// addLagAndTimeline adds the lag per second and the timeline's lines, both
// in time order.
func (sum *Summary) addLagAndTimeline(events []record.Event) {
	sum.LagOverTime = []LagSecond{}
	for _, e := range events {
		if e.Kind == record.EventLag && e.Lag != nil {
			sum.LagOverTime = append(sum.LagOverTime, LagSecond{T: float64(e.Lag.Second), LagPoint: *e.Lag})
		}
	}
	sort.SliceStable(sum.LagOverTime, func(i, j int) bool { return sum.LagOverTime[i].T < sum.LagOverTime[j].T })
	sum.Timeline = []string{}
	var lineT []int64
	for _, e := range events {
		if e.Kind == record.EventTimeline || e.Kind == record.EventRefuse || e.Kind == record.EventMiddlebox {
			line := fmt.Sprintf("%7.3fs %s", float64(e.T)/1e9, e.Detail)
			if e.Error != "" {
				line += " (failed: " + e.Error + ")"
			}
			sum.Timeline = append(sum.Timeline, line)
			lineT = append(lineT, e.T)
		}
	}
	// A middlebox's forgetting is written when noticed, stamped when it
	// happened: keep the lines in time order.
	sort.Stable(byTime{sum.Timeline, lineT})
}

// addPeers adds each side's account and fills the message accounting.
func (sum *Summary) addPeers(events []record.Event) {
	for _, side := range []record.Side{record.RoleSender, record.RoleReceiver} {
		p := Peer{Side: side}
		var first *record.Stats
		for _, e := range events {
			if e.Side != side {
				continue
			}
			switch e.Kind {
			case record.EventSocket:
				if p.Socket == nil {
					p.Socket = e.Socket
				}
			case record.EventTotal:
				p.Stats = e.Stats
			case record.EventStats:
				if first == nil {
					first = e.Stats
				}
			case record.EventConnected:
				if p.HandshakeMs == 0 {
					p.HandshakeMs = float64(e.Handshake) / 1e6
				}
			case record.EventClosed:
				if p.Closed == "" {
					p.Closed = e.Error
				}
			case record.EventError:
				p.Errors = append(p.Errors, e.Error)
			}
		}
		if p.Stats == nil {
			p.Stats = first
		}
		if first != nil && first.ClosedNs > 0 {
			p.Lifecycle = lifecycle(first)
			p.Lifecycle.HandshakeMs = p.HandshakeMs
			if p.Stats != nil && p.Stats.Connections > 0 {
				p.Lifecycle.Connections = p.Stats.Connections
			}
		}
		sum.Peers = append(sum.Peers, p)
		if st := p.Stats; st != nil {
			if side == record.RoleSender {
				sum.Messages.Sent, sum.Messages.Dropped = st.Messages, st.Dropped
			} else {
				m := &sum.Messages
				m.Delivered, m.Lost, m.Duplicated = st.Messages, st.Lost, st.Duplicated
				m.LagP50Ms, m.LagP99Ms, m.LagMaxMs = st.LagP50Ms, st.LagP99Ms, st.LagMaxMs
			}
		}
	}
	if m := &sum.Messages; m.Sent+m.Duplicated > m.Delivered {
		m.Undelivered = m.Sent + m.Duplicated - m.Delivered
	}
}

// lifecycle is a connection's life from one end's figures.
func lifecycle(st *record.Stats) *Lifecycle {
	if st.ClosedNs == 0 {
		return nil
	}
	lc := &Lifecycle{SessionS: float64(st.ClosedNs-st.ConnectedNs) / 1e9, Connections: 1, Reused: st.Messages > 1}
	if st.FirstDataNs > 0 {
		lc.IdleBeforeFirstMs = float64(st.FirstDataNs-st.ConnectedNs) / 1e6
		lc.IdleAfterLastMs = float64(st.ClosedNs-st.LastDataNs) / 1e6
	}
	return lc
}

// byTime sorts lines by their times.
type byTime struct {
	lines []string
	t     []int64
}

func (b byTime) Len() int           { return len(b.lines) }
func (b byTime) Less(i, j int) bool { return b.t[i] < b.t[j] }
func (b byTime) Swap(i, j int) {
	b.lines[i], b.lines[j] = b.lines[j], b.lines[i]
	b.t[i], b.t[j] = b.t[j], b.t[i]
}
