package report

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/tcpinfo"
)

// What one end can tell. A connection watched on a live host (tcplab
// watch) usually has one of its ends there. The sending end has the whole
// case: its chronos, its queue, its pacing, the peer's window; Classify
// judges it alone as it judges a run without the receiver's samples. The
// receiving end sees its own buffer, the window it advertises and what
// arrives, not the sender's queue: it tells receiver-limited from not, and
// not which of the other two held the transfer. ClassifyReceiving says so.

// Receiving-end thresholds.
const (
	// rcvUnreadLimited is the mean share of the receive buffer left unread
	// from which the receiving application is what held the transfer.
	rcvUnreadLimited = 0.25
	// rcvZeroWindowLimited is the share of samples advertising a zero
	// window from which the receiver held the transfer.
	rcvZeroWindowLimited = 0.3
	// rcvWindowFilled is the share of the advertised window that crossed
	// per base RTT (received rate × min_rtt) from which the window, not
	// the sender or the path, bounded the rate. A window that autotuning
	// keeps open runs at half of it or less.
	rcvWindowFilled = 0.8
)

// ClassifyReceiving classifies a connection from its receiving socket's
// samples alone (in time order), window by window: receiver-limited (the
// application not reading, or a window too small for the path), or
// unknown with the sub-cause SubNotReceiver when the receiver kept up —
// the sender or the path held it, which this end cannot tell apart. It
// returns no shares: the chronos are the sender's.
func ClassifyReceiving(rcv []tcpinfo.Sample, window int64) (Shares, []Window, Verdict) {
	if len(rcv) < 2 {
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{"fewer than two samples of the receiving socket: nothing to classify"}}
	}
	span := rcv[len(rcv)-1].T - rcv[0].T
	if window <= 0 || span/window > maxWindows {
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{fmt.Sprintf("the receiving socket's samples span %.0f s: more windows than any run has (at most %d); the samples are damaged", float64(span)/1e9, maxWindows)}}
	}
	if span < window/2 {
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{fmt.Sprintf("too short to classify: %d samples of the receiving socket over %.1f ms, less than half a window (%v)", len(rcv), float64(span)/1e6, time.Duration(window))}}
	}
	t0, end := rcv[0].T, rcv[len(rcv)-1].T
	var wins []Window
	for ws := t0; ws < end; ws += window {
		we := min(ws+window, end)
		if we-ws < window/2 && len(wins) > 0 {
			break
		}
		a, b := at(rcv, ws), at(rcv, we)
		if b <= a {
			continue
		}
		w := Window{Start: float64(ws-t0) / 1e9, End: float64(we-t0) / 1e9, Evidence: receivingEvidence(rcv, ws, we)}
		w.Class, w.SubCause = labelReceiving(w.Evidence)
		wins = append(wins, w)
	}
	return Shares{}, wins, verdictReceiving(wins, receivingEvidence(rcv, t0, end))
}

// receivingEvidence is what the receiving socket showed between ws and we.
func receivingEvidence(rcv []tcpinfo.Sample, ws, we int64) Evidence {
	var e Evidence
	a, b := at(rcv, ws), at(rcv, we)
	e.ReceiverUnreadMin = math.Inf(1)
	var unread, unreadB float64
	var fills []float64
	rate := 0.0
	if span := float64(rcv[b].T-rcv[a].T) / 1e9; span > 0 && rcv[b].Info.BytesReceived >= rcv[a].Info.BytesReceived {
		rate = float64(rcv[b].Info.BytesReceived-rcv[a].Info.BytesReceived) / span
		e.ReceivedBits = 8 * rate
	}
	for i := a + 1; i <= b; i++ {
		r := &rcv[i]
		e.ReceiverSamples++
		f := 0.0
		if r.Mem.Rcvbuf > 0 {
			f = float64(r.Queues.Unread) / float64(r.Mem.Rcvbuf)
		}
		unread += f
		unreadB += float64(r.Queues.Unread)
		e.ReceiverUnreadMin = math.Min(e.ReceiverUnreadMin, f)
		in := &r.Info
		if in.HasRcvWnd() {
			if in.RcvWnd == 0 {
				e.ZeroWindow++
			} else if in.MinRTT > 0 {
				fills = append(fills, rate*float64(in.MinRTT)/1e6/float64(in.RcvWnd))
			}
		}
	}
	if e.ReceiverSamples == 0 {
		e.ReceiverUnreadMin = 0
		return e
	}
	n := float64(e.ReceiverSamples)
	e.ReceiverUnread, e.ReceiverUnreadB, e.ZeroWindow = unread/n, unreadB/n, e.ZeroWindow/n
	if len(fills) > 0 {
		sort.Float64s(fills)
		e.WindowFill = fills[len(fills)/2]
	}
	if rcv[b].Info.RcvOOOPack >= rcv[a].Info.RcvOOOPack {
		e.OutOfOrder = uint64(rcv[b].Info.RcvOOOPack - rcv[a].Info.RcvOOOPack)
	}
	return e
}

// labelReceiving applies the receiving end's rules to one span.
func labelReceiving(e Evidence) (Class, SubCause) {
	switch {
	case e.ReceiverSamples == 0:
		return Unknown, subUnclassified
	case e.ReceiverUnread >= rcvUnreadLimited || e.ZeroWindow >= rcvZeroWindowLimited:
		return ReceiverLimited, SubAppNotRead
	case e.WindowFill >= rcvWindowFilled && e.ReceiverUnread < 0.05:
		return ReceiverLimited, SubRcvBufSmall
	case e.WindowFill >= rcvWindowFilled:
		return ReceiverLimited, SubRcvWindow
	}
	return Unknown, SubNotReceiver
}

func verdictReceiving(wins []Window, whole Evidence) Verdict {
	v := Verdict{ClassShares: map[Class]float64{}}
	if len(wins) == 0 {
		v.Class = Unknown
		v.Evidence = []string{"the watch was shorter than one window"}
		return v
	}
	subs := map[SubCause]int{}
	notReceiver := 0
	for _, w := range wins {
		v.ClassShares[w.Class] += 1 / float64(len(wins))
		if w.Class == ReceiverLimited {
			subs[w.SubCause]++
		}
		if w.SubCause == SubNotReceiver {
			notReceiver++
		}
	}
	switch rl := v.ClassShares[ReceiverLimited]; {
	case rl >= DominantShare:
		v.Class = ReceiverLimited
		top := 0
		for sc, n := range subs {
			if n > top || (n == top && sc < v.SubCause) {
				v.SubCause, top = sc, n
			}
		}
		v.Evidence = append(v.Evidence, fmt.Sprintf("%.0f%% of %d windows were %s (from the receiving end)", 100*rl, len(wins), ReceiverLimited))
	case float64(notReceiver)/float64(len(wins)) >= DominantShare:
		v.Class, v.SubCause = Unknown, SubNotReceiver
		v.Evidence = append(v.Evidence, fmt.Sprintf("the receiver kept up in %d of %d windows: the sender or the path held the transfer, and the receiving end cannot tell which (watch the sending end for that)", notReceiver, len(wins)))
	default:
		v.Class = Mixed
		v.Evidence = append(v.Evidence, fmt.Sprintf("no class covers %.0f%% of the windows: %s", 100*DominantShare, classVector(v.ClassShares)))
	}
	v.Evidence = append(v.Evidence, "only the receiving socket was sampled: no chronos (they are the sender's); the verdict rests on its buffer, its window and what arrived")
	v.Evidence = append(v.Evidence, fmt.Sprintf("receiver held %.0f KB unread on average, %.0f%% of its buffer; zero window advertised in %.0f%% of samples", whole.ReceiverUnreadB/1e3, 100*whole.ReceiverUnread, 100*whole.ZeroWindow))
	if whole.WindowFill > 0 {
		v.Evidence = append(v.Evidence, fmt.Sprintf("received rate × min_rtt = %.0f%% of the advertised window (median): %s", 100*whole.WindowFill, map[bool]string{true: "the window bounded the rate", false: "the window was not what bounded the rate"}[whole.WindowFill >= rcvWindowFilled]))
	}
	if whole.OutOfOrder > 0 {
		v.Evidence = append(v.Evidence, fmt.Sprintf("%d segments arrived out of order: loss or reordering on the path", whole.OutOfOrder))
	}
	v.Evidence = append(v.Evidence, fmt.Sprintf("goodput %.2f Mbit/s (bytes received)", whole.ReceivedBits/1e6))
	return v
}

// classifyEnds classifies a connection from the ends it has: the sending
// socket's samples when there are any, else the receiving socket's alone.
func classifyEnds(snd, rcv []tcpinfo.Sample, window int64) (Shares, []Window, Verdict) {
	if len(snd) == 0 && len(rcv) > 0 {
		return ClassifyReceiving(rcv, window)
	}
	return Classify(snd, rcv, window)
}

// Ends says which ends of the verdict's connection were sampled.
type Ends string

// The ends a verdict can rest on.
const (
	EndsBoth      Ends = "both"
	EndsSending   Ends = "sending"
	EndsReceiving Ends = "receiving"
)

// EndsTable is the one table of Ends.
var EndsTable = []Ends{EndsBoth, EndsSending, EndsReceiving}

// MarshalText writes the name.
func (e Ends) MarshalText() ([]byte, error) { return []byte(e), nil }

// UnmarshalText reads a name and refuses any other text.
func (e *Ends) UnmarshalText(b []byte) error { return vocab.Parse(e, EndsTable, string(b), "ends") }

// LiveWindow is the class of a connection's last complete window, from the
// end its recent samples are (sending or receiving), for a live view; ok
// is false until a window is complete.
func LiveWindow(ss []tcpinfo.Sample, sending bool, window int64) (Class, SubCause, bool) {
	if len(ss) < 2 || ss[len(ss)-1].T-ss[0].T < window {
		return Unknown, subUnclassified, false
	}
	end := ss[len(ss)-1].T
	if sending {
		if !ss[0].Info.HasChronos() {
			return Unknown, subUnclassified, false
		}
		w, ok := series{snd: ss}.window(end-window, end)
		return w.Class, w.SubCause, ok
	}
	e := receivingEvidence(ss, end-window, end)
	c, sc := labelReceiving(e)
	return c, sc, true
}
