package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/tcpinfo"
)

// SchemaVersion is the version of report.json's layout.
const SchemaVersion = 1

// Meta is what the run knows about itself beyond the samples and events.
type Meta struct {
	Scenario    string  `json:"scenario"`
	RunID       string  `json:"run_id"`
	StartedAt   string  `json:"started_at"` // RFC 3339
	DurationS   float64 `json:"duration_s"` // as configured
	WindowS     float64 `json:"window_s"`
	Kernel      string  `json:"kernel"`
	LinkDown    string  `json:"link_down"`
	LinkUp      string  `json:"link_up"`
	SenderAddr  string  `json:"sender_addr"`
	ReceiverAdr string  `json:"receiver_addr"`
	// VanishS is when the receiver vanished (0: it did not).
	VanishS float64 `json:"vanish_s,omitempty"`
	// Link is the link as configured and as it ran.
	Link *LinkRecord `json:"link,omitempty"`
	// Stopped says why the run ended: "completed", "interrupted (SIGINT)", or
	// the error that ended it.
	Stopped string `json:"stopped"`
}

// Peer is one peer's account.
type Peer struct {
	Side        string                 `json:"side"`
	Socket      *peers.EffectiveSocket `json:"socket,omitempty"`
	Stats       *peers.Stats           `json:"stats,omitempty"`
	HandshakeMs float64                `json:"handshake_ms,omitempty"`
	Closed      string                 `json:"closed,omitempty"` // error at close, empty when clean
	Errors      []string               `json:"errors,omitempty"`
	Lifecycle   *Lifecycle             `json:"lifecycle,omitempty"`
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

// Disconnect is a connection that ended before the run did.
type Disconnect struct {
	T     float64 `json:"t_s"`
	Side  string  `json:"side"`  // who noticed
	Error string  `json:"error"` // EOF, ECONNRESET, a policy reset…
	// ClosedFirst is the side that closed first (its close came earliest).
	ClosedFirst string `json:"closed_first"`
	// DetectionS is how long after the receiver vanished this side
	// noticed (only when the scenario has the receiver vanish).
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
}

// ExpectResult is the outcome of one expectation.
type ExpectResult struct {
	Expect string `json:"expect"`
	Holds  bool   `json:"holds"`
	Actual string `json:"actual"`
}

// Summary is the report of one run as data; every format renders it.
type Summary struct {
	Schema     int      `json:"schema"`
	Meta       Meta     `json:"run"`
	TCPInfoLen int      `json:"tcp_info_len"`
	Verdict    Verdict  `json:"verdict"`
	Shares     Shares   `json:"shares"`
	Windows    []Window `json:"windows"`
	Peers      []Peer   `json:"peers"`
	// SelfCheck puts what the link measurably did beside its configuration.
	SelfCheck    []Check        `json:"link_self_check"`
	Messages     Accounting     `json:"messages"`
	Disconnects  []Disconnect   `json:"disconnects"`
	Timeline     []string       `json:"timeline"`
	Expectations []ExpectResult `json:"expectations"`
}

// Passed reports whether every expectation held.
func (s *Summary) Passed() bool {
	for _, e := range s.Expectations {
		if !e.Holds {
			return false
		}
	}
	return true
}

// Build makes the Summary of a run from its recorded samples and events.
func Build(meta Meta, samples []tcpinfo.Sample, events []peers.Event, window int64) Summary {
	var snd, rcv []tcpinfo.Sample
	for _, s := range samples {
		switch {
		case s.Side == peers.RoleSender && s.Conn == 0:
			snd = append(snd, s)
		case s.Side == peers.RoleReceiver && s.Conn == 0:
			rcv = append(rcv, s)
		}
	}
	byT := func(ss []tcpinfo.Sample) { sort.SliceStable(ss, func(i, j int) bool { return ss[i].T < ss[j].T }) }
	byT(snd)
	byT(rcv)
	sum := Summary{Schema: SchemaVersion, Meta: meta, Expectations: []ExpectResult{}}
	if len(snd) > 0 {
		sum.TCPInfoLen = snd[0].Info.Len
	}
	sum.Shares, sum.Windows, sum.Verdict = Classify(snd, rcv, window)
	if sum.Windows == nil {
		sum.Windows = []Window{}
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
	sum.Disconnects = []Disconnect{}
	first := ""
	var firstT int64
	for _, e := range events {
		if e.Kind == peers.EventClosed && (first == "" || e.T < firstT) {
			first, firstT = e.Side, e.T
		}
	}
	end := int64(meta.DurationS * 1e9)
	for _, e := range events {
		if e.Kind == peers.EventClosed && e.Error != "" && e.T < end {
			d := Disconnect{T: float64(e.T) / 1e9, Side: e.Side, Error: e.Error, ClosedFirst: first}
			if meta.VanishS > 0 && d.T >= meta.VanishS {
				d.DetectionS = d.T - meta.VanishS
			}
			sum.Disconnects = append(sum.Disconnects, d)
		}
	}
	sum.Timeline = []string{}
	for _, e := range events {
		if e.Kind == peers.EventTimeline {
			line := fmt.Sprintf("%7.3fs %s", float64(e.T)/1e9, e.Detail)
			if e.Error != "" {
				line += " (failed: " + e.Error + ")"
			}
			sum.Timeline = append(sum.Timeline, line)
		}
	}
	for _, side := range []string{peers.RoleSender, peers.RoleReceiver} {
		p := Peer{Side: side}
		for _, e := range events {
			if e.Side != side {
				continue
			}
			switch e.Kind {
			case peers.EventSocket:
				p.Socket = e.Socket
			case peers.EventStats:
				p.Stats = e.Stats
			case peers.EventConnected:
				p.HandshakeMs = float64(e.Handshake) / 1e6
			case peers.EventClosed:
				p.Closed = e.Error
			case peers.EventError:
				p.Errors = append(p.Errors, e.Error)
			}
		}
		if st := p.Stats; st != nil && st.ClosedNs > 0 {
			lc := &Lifecycle{HandshakeMs: p.HandshakeMs, SessionS: float64(st.ClosedNs-st.ConnectedNs) / 1e9, Connections: 1, Reused: st.Messages > 1}
			if st.FirstDataNs > 0 {
				lc.IdleBeforeFirstMs = float64(st.FirstDataNs-st.ConnectedNs) / 1e6
				lc.IdleAfterLastMs = float64(st.ClosedNs-st.LastDataNs) / 1e6
			}
			p.Lifecycle = lc
		}
		sum.Peers = append(sum.Peers, p)
		if st := p.Stats; st != nil {
			if side == peers.RoleSender {
				sum.Messages.Sent, sum.Messages.Dropped = st.Messages, st.Dropped
			} else {
				sum.Messages.Delivered, sum.Messages.Lost, sum.Messages.Duplicated = st.Messages, st.Lost, st.Duplicated
			}
		}
	}
	if m := &sum.Messages; m.Sent > m.Delivered {
		m.Undelivered = m.Sent - m.Delivered
	}
	return sum
}

// ReadSamples reads samples.jsonl.
func ReadSamples(path string) ([]tcpinfo.Sample, error) {
	var out []tcpinfo.Sample
	err := readLines(path, func(b []byte) error {
		var s tcpinfo.Sample
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// ReadEvents reads events.jsonl.
func ReadEvents(path string) ([]peers.Event, error) {
	var out []peers.Event
	err := readLines(path, func(b []byte) error {
		var e peers.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func readLines(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	return sc.Err()
}
