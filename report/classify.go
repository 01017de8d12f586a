package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/tcpinfo"
)

// Class is what limited a span of the transfer (a window, a connection,
// the run).
type Class string

// The classes of limitation.
const (
	SenderLimited   Class = "sender-limited"
	ReceiverLimited Class = "receiver-limited"
	NetworkLimited  Class = "network-limited"
	Mixed           Class = "mixed"
	Unknown         Class = "unknown"
)

// Classes is the one table of classes, in the order reports list them.
var Classes = []Class{SenderLimited, ReceiverLimited, NetworkLimited, Mixed, Unknown}

// MarshalText writes the class's name.
func (c Class) MarshalText() ([]byte, error) { return []byte(c), nil }

// UnmarshalText reads a class's name and refuses any other text.
func (c *Class) UnmarshalText(b []byte) error { return vocab.Parse(c, Classes, string(b), "class") }

// SubCause says which part of a class it was: the evidence's reading.
type SubCause string

// The sub-causes.
const (
	SubAppIdle     SubCause = "application not sending"
	SubSendBuffer  SubCause = "send buffer too small"
	SubPacingCap   SubCause = "pacing cap (SO_MAX_PACING_RATE)"
	SubAppNotRead  SubCause = "application not reading"
	SubRcvBufSmall SubCause = "receive buffer too small"
	SubRcvWindow   SubCause = "receive window"
	SubLoss        SubCause = "loss (retransmits)"
	SubQueueing    SubCause = "queueing (RTT above min_rtt)"
	SubRate        SubCause = "bottleneck rate (cwnd or pacing bound)"
	SubRTO         SubCause = "retransmission timeouts (no ACKs: a dead path)"
	// SubNotReceiver is a receiving end's reading when it kept up: the
	// sender or the path held the transfer, and that end cannot tell which.
	SubNotReceiver  SubCause = "not the receiver: the sender or the path (one end watched)"
	subUnclassified SubCause = ""
)

// SubCauses is the one table of sub-causes.
var SubCauses = []SubCause{SubAppIdle, SubSendBuffer, SubPacingCap, SubAppNotRead, SubRcvBufSmall, SubRcvWindow, SubLoss, SubQueueing, SubRate, SubRTO, SubNotReceiver, subUnclassified}

// MarshalText writes the sub-cause's text.
func (c SubCause) MarshalText() ([]byte, error) { return []byte(c), nil }

// UnmarshalText reads a sub-cause and refuses any other text.
func (c *SubCause) UnmarshalText(b []byte) error {
	return vocab.Parse(c, SubCauses, string(b), "sub-cause")
}

// Text is the class, and its sub-cause after sep when there is one.
func (v *Verdict) Text(sep string) string {
	if v.SubCause != "" {
		return string(v.Class) + sep + string(v.SubCause)
	}
	return string(v.Class)
}

// DominantShare is the share of the run's windows one class must cover for a
// verdict; below it the verdict is "mixed".
const DominantShare = 0.6

// Shares splits the sending socket's time, from its kernel chrono counters:
// Idle (write queue empty), Rwnd (rwnd-limited), Sndbuf (sndbuf-limited) and
// Network (the rest of busy time). They add up to 1.
type Shares struct {
	Idle    float64 `json:"idle"`
	Rwnd    float64 `json:"rwnd_limited"`
	Sndbuf  float64 `json:"sndbuf_limited"`
	Network float64 `json:"network"`
}

// Evidence is what the samples of a span showed besides the chronos.
type Evidence struct {
	Samples           int     `json:"samples"`
	ReceiverSamples   int     `json:"receiver_samples"`
	AppLimited        float64 `json:"app_limited"`       // share of samples with delivery_rate_app_limited
	NotsentAboveMSS   float64 `json:"notsent_above_mss"` // share of samples with notsent_bytes >= mss
	WindowBound       float64 `json:"window_bound"`      // share with snd_wnd < cwnd*mss and notsent >= mss
	ZeroWindow        float64 `json:"zero_window"`       // share with snd_wnd == 0 (a receiving end's: rcv_wnd == 0)
	PacingCapped      float64 `json:"pacing_capped"`     // share at a SO_MAX_PACING_RATE cap
	SndbufFill        float64 `json:"sndbuf_fill"`       // median wmem_queued / sndbuf
	ReceiverUnread    float64 `json:"receiver_unread"`   // mean unread / rcvbuf on the receiver
	ReceiverUnreadB   float64 `json:"receiver_unread_bytes"`
	ReceiverUnreadMin float64 `json:"receiver_unread_min"` // smallest unread / rcvbuf in the span
	SRTTOverMinRTT    float64 `json:"srtt_over_min_rtt"`   // mean srtt / min_rtt
	Retransmits       uint64  `json:"retransmits"`         // total_retrans delta
	RetransRate       float64 `json:"retrans_rate"`        // bytes_retrans / bytes_sent delta
	GoodputBits       float64 `json:"goodput_bits"`        // bytes_acked delta × 8 / span
	DeliveryRateBits  float64 `json:"delivery_rate_bits"`
	// RTOBackoff is the share of samples in RTO recovery with the timer
	// backed off (ca_state Loss, backoff > 0): the sender retransmits into
	// a path that answers nothing. A zero-window probe backs off too but
	// leaves ca_state alone.
	RTOBackoff float64 `json:"rto_backoff,omitempty"`
	// LossRecovery is the share of samples repairing a loss (ca_state
	// Recovery or Loss, or SACKed segments out): the receiver then holds
	// the out-of-order data behind the hole, which closes its window
	// while its application has nothing to read.
	LossRecovery float64 `json:"loss_recovery,omitempty"`
	// A receiving end judged alone (ClassifyReceiving): what arrived
	// (bytes_received × 8 / span), the median share of the advertised
	// window that crossed per base RTT, and the segments that arrived out
	// of order (rcv_ooopack).
	ReceivedBits float64 `json:"received_bits,omitempty"`
	// PeerWindowUse is the share of the peer's mean window (snd_wnd)
	// acknowledged per base RTT (only without the receiver's samples).
	PeerWindowUse float64 `json:"peer_window_use,omitempty"`
	WindowFill    float64 `json:"window_fill,omitempty"`
	OutOfOrder    uint64  `json:"out_of_order,omitempty"`
}

// Window is one classification window.
type Window struct {
	Start    float64  `json:"start_s"`
	End      float64  `json:"end_s"`
	Shares   Shares   `json:"shares"`
	Class    Class    `json:"class"`
	SubCause SubCause `json:"sub_cause,omitempty"`
	Evidence Evidence `json:"evidence"`
}

// Verdict is the whole run's classification.
type Verdict struct {
	Class    Class    `json:"class"`
	SubCause SubCause `json:"sub_cause,omitempty"`
	// ClassShares is the share of windows that got each class.
	ClassShares map[Class]float64 `json:"class_shares"`
	// Evidence is the human-readable case for the verdict.
	Evidence []string `json:"evidence"`
}

type series struct {
	snd []tcpinfo.Sample
	rcv []tcpinfo.Sample
}

// Classify splits the run into windows of length window (ns) and classifies
// each and the whole run. snd are the sending socket's samples and rcv the
// receiving socket's, each in time order.
func Classify(snd, rcv []tcpinfo.Sample, window int64) (Shares, []Window, Verdict) {
	if len(snd) < 2 {
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{"fewer than two samples of the sending socket: nothing to classify"}}
	}
	if span := snd[len(snd)-1].T - snd[0].T; window <= 0 || span/window > maxWindows {
		// Samples stamped over more than a run can last (a damaged
		// samples.jsonl): classifying them window by window would not end.
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{fmt.Sprintf("the sending socket's samples span %.0f s: more windows than any run has (at most %d); the samples are damaged", float64(span)/1e9, maxWindows)}}
	}
	if span := snd[len(snd)-1].T - snd[0].T; span < window/2 {
		// Not one window's worth: a short connection says so instead of voting.
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{fmt.Sprintf("too short to classify: %d samples of the sending socket over %.1f ms, less than half a window (%v)", len(snd), float64(span)/1e6, time.Duration(window))}}
	}
	if !snd[0].Info.HasChronos() {
		return Shares{}, nil, Verdict{Class: Unknown, Evidence: []string{fmt.Sprintf("the kernel returned %d bytes of tcp_info: no busy/rwnd/sndbuf chronos (kernel 4.10+)", snd[0].Info.Len)}}
	}
	s := series{snd, rcv}
	total := shares(&snd[0], &snd[len(snd)-1])
	var wins []Window
	t0 := snd[0].T
	end := snd[len(snd)-1].T
	for ws := t0; ws < end; ws += window {
		we := ws + window
		if we > end {
			we = end
		}
		if we-ws < window/2 && len(wins) > 0 {
			break // a stub at the end says little
		}
		w, ok := s.window(ws, we)
		if ok {
			wins = append(wins, w)
		}
	}
	return total, wins, verdict(total, wins, s.evidence(t0, end))
}

// at returns the index of the last sample with T <= t (0 if none).
func at(ss []tcpinfo.Sample, t int64) int {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].T > t })
	if i == 0 {
		return 0
	}
	return i - 1
}

func shares(a, b *tcpinfo.Sample) Shares {
	el := float64(b.T-a.T) / 1e3 // µs
	if el <= 0 {
		return Shares{}
	}
	busy := float64(b.Info.BusyTime - a.Info.BusyTime)
	r := float64(b.Info.RwndLimited - a.Info.RwndLimited)
	s := float64(b.Info.SndbufLimited - a.Info.SndbufLimited)
	clamp := func(v float64) float64 { return math.Max(0, math.Min(1, v)) }
	sh := Shares{Rwnd: clamp(r / el), Sndbuf: clamp(s / el)}
	busyF := clamp(busy / el)
	sh.Idle = 1 - busyF
	sh.Network = clamp(busyF - sh.Rwnd - sh.Sndbuf)
	if sum := sh.Idle + sh.Rwnd + sh.Sndbuf + sh.Network; sum > 0 {
		sh.Idle, sh.Rwnd, sh.Sndbuf, sh.Network = sh.Idle/sum, sh.Rwnd/sum, sh.Sndbuf/sum, sh.Network/sum
	}
	return sh
}

func (s series) window(ws, we int64) (Window, bool) {
	a, b := at(s.snd, ws), at(s.snd, we)
	if b <= a {
		return Window{}, false
	}
	w := Window{Start: float64(ws-s.snd[0].T) / 1e9, End: float64(we-s.snd[0].T) / 1e9}
	w.Shares = shares(&s.snd[a], &s.snd[b])
	w.Evidence = s.evidence(ws, we)
	w.Class, w.SubCause = label(w.Shares, w.Evidence)
	return w, true
}

const unsetPacing = math.MaxUint64

func (s series) evidence(ws, we int64) Evidence {
	var e Evidence
	a, b := at(s.snd, ws), at(s.snd, we)
	var fills []float64
	var rttRatio, wnd float64
	var nRTT int
	for i := a + 1; i <= b; i++ {
		in := &s.snd[i].Info
		mss := uint64(in.SndMSS)
		e.Samples++
		if in.DeliveryRateAppLimited != 0 {
			e.AppLimited++
		}
		notsent := in.HasNotsent() && uint64(in.NotsentBytes) >= mss
		if notsent {
			e.NotsentAboveMSS++
		}
		if in.HasSndWnd() {
			wnd += float64(in.SndWnd)
			if notsent && uint64(in.SndWnd) < uint64(in.SndCwnd)*mss {
				e.WindowBound++
			}
			if in.SndWnd == 0 {
				e.ZeroWindow++
			}
		}
		if in.HasDeliveryRate() && in.MaxPacingRate != unsetPacing && in.MaxPacingRate > 0 && notsent &&
			(float64(in.DeliveryRate) >= 0.9*float64(in.MaxPacingRate) || float64(in.PacingRate) >= 0.98*float64(in.MaxPacingRate)) {
			e.PacingCapped++
		}
		if sb := s.snd[i].Mem.Sndbuf; sb > 0 {
			fills = append(fills, float64(s.snd[i].Mem.WmemQueued)/float64(sb))
		}
		if in.MinRTT > 0 && in.RTT > 0 {
			rttRatio += float64(in.RTT) / float64(in.MinRTT)
			nRTT++
		}
		e.DeliveryRateBits += float64(in.DeliveryRate) * 8
		if in.CAState == caLoss && in.Backoff > 0 {
			e.RTOBackoff++
		}
		if in.CAState >= caRecovery || in.Sacked > 0 {
			e.LossRecovery++
		}
	}
	if e.Samples > 0 {
		n := float64(e.Samples)
		e.AppLimited /= n
		e.NotsentAboveMSS /= n
		e.WindowBound /= n
		e.ZeroWindow /= n
		e.PacingCapped /= n
		e.RTOBackoff /= n
		e.LossRecovery /= n
		e.DeliveryRateBits /= n
	}
	if nRTT > 0 {
		e.SRTTOverMinRTT = rttRatio / float64(nRTT)
	}
	if len(s.rcv) == 0 && e.Samples > 0 && wnd > 0 && b > a {
		// Only the sending end: how much of the peer's window crossed per
		// base RTT. The window's right edge moves as the receiving
		// application reads: read at once (a small buffer), a window
		// crosses every RTT; read slowly, far less does.
		if span, mr := float64(s.snd[b].T-s.snd[a].T)/1e9, s.snd[b].Info.MinRTT; span > 0 && mr > 0 {
			rate := float64(s.snd[b].Info.BytesAcked-s.snd[a].Info.BytesAcked) / span
			e.PeerWindowUse = rate * float64(mr) / 1e6 / (wnd / float64(e.Samples))
		}
	}
	if len(fills) > 0 {
		sort.Float64s(fills)
		e.SndbufFill = fills[len(fills)/2]
	}
	if b > a {
		e.Retransmits = uint64(s.snd[b].Info.TotalRetrans - s.snd[a].Info.TotalRetrans)
		if sent := s.snd[b].Info.BytesSent - s.snd[a].Info.BytesSent; sent > 0 {
			e.RetransRate = float64(s.snd[b].Info.BytesRetrans-s.snd[a].Info.BytesRetrans) / float64(sent)
		}
		if span := float64(s.snd[b].T-s.snd[a].T) / 1e9; span > 0 {
			e.GoodputBits = float64(s.snd[b].Info.BytesAcked-s.snd[a].Info.BytesAcked) * 8 / span
		}
	}
	if len(s.rcv) > 0 {
		ra, rb := at(s.rcv, ws), at(s.rcv, we)
		var unread, unreadB float64
		e.ReceiverUnreadMin = math.Inf(1)
		for i := ra + 1; i <= rb; i++ {
			r := &s.rcv[i]
			e.ReceiverSamples++
			unreadB += float64(r.Queues.Unread)
			f := 0.0
			if r.Mem.Rcvbuf > 0 {
				f = float64(r.Queues.Unread) / float64(r.Mem.Rcvbuf)
			}
			unread += f
			e.ReceiverUnreadMin = math.Min(e.ReceiverUnreadMin, f)
		}
		if e.ReceiverSamples == 0 {
			e.ReceiverUnreadMin = 0
		}
		if e.ReceiverSamples > 0 {
			e.ReceiverUnread = unread / float64(e.ReceiverSamples)
			e.ReceiverUnreadB = unreadB / float64(e.ReceiverSamples)
		}
	}
	return e
}

// label applies the classification rules (docs/verdict.md) to one span.
func label(sh Shares, e Evidence) (Class, SubCause) {
	if e.Samples == 0 {
		return Unknown, subUnclassified
	}
	switch {
	case e.RTOBackoff >= 0.5:
		// Nothing is acknowledged: whatever the chronos say, the path is
		// what holds the sender (a partition, a peer gone).
		return NetworkLimited, SubRTO
	case sh.Rwnd >= 0.5 || (sh.Rwnd >= 0.1 && e.WindowBound >= 0.5):
		switch {
		case e.ReceiverSamples == 0 && e.PeerWindowUse > 0 && e.PeerWindowUse <= peerWindowSlowRead:
			// Only the sending end: the window's edge moved far slower
			// than a window per RTT — the application read slowly.
			return ReceiverLimited, SubAppNotRead
		case e.ReceiverSamples == 0 && e.PeerWindowUse >= peerWindowFilled:
			// …or a whole window crossed each RTT: the buffer is too small.
			return ReceiverLimited, SubRcvBufSmall
		case e.ReceiverSamples == 0:
			return ReceiverLimited, SubRcvWindow
		case e.ReceiverUnread >= 0.25:
			return ReceiverLimited, SubAppNotRead
		case e.ReceiverUnread < 0.05 && e.LossRecovery >= lossRecoveryShare && e.Retransmits > 0:
			// The window closed while a loss was repaired: the buffer
			// held out-of-order data behind the hole, not unread data.
			return NetworkLimited, SubLoss
		case e.ReceiverUnread < 0.05:
			return ReceiverLimited, SubRcvBufSmall
		}
		return ReceiverLimited, SubRcvWindow
	case e.ReceiverSamples > 0 && e.ReceiverUnreadMin >= 0.25:
		// The receiving application had a backlog the whole span: whatever
		// held the sender (a cwnd cut after a loss, say) never reached the
		// application, which was the bottleneck throughout.
		return ReceiverLimited, SubAppNotRead
	case e.PacingCapped >= 0.5:
		return SenderLimited, SubPacingCap
	case sh.Sndbuf >= 0.2 || (e.AppLimited >= 0.5 && e.NotsentAboveMSS < 0.5 && e.SndbufFill >= 0.8):
		return SenderLimited, SubSendBuffer
	case sh.Idle >= 0.3 || (e.AppLimited >= 0.5 && e.NotsentAboveMSS < 0.5 && sh.Rwnd < 0.1):
		return SenderLimited, SubAppIdle
	case sh.Network >= 0.7 && e.NotsentAboveMSS >= 0.5 && e.AppLimited < 0.5:
		switch {
		case e.Retransmits > 0:
			return NetworkLimited, SubLoss
		case e.SRTTOverMinRTT >= 1.5:
			return NetworkLimited, SubQueueing
		}
		return NetworkLimited, SubRate
	}
	return Mixed, subUnclassified
}

func verdict(total Shares, wins []Window, whole Evidence) Verdict {
	v := Verdict{ClassShares: map[Class]float64{}}
	if len(wins) == 0 {
		v.Class = Unknown
		v.Evidence = []string{"the run was shorter than one window"}
		return v
	}
	subs := map[Class]map[SubCause]int{}
	for _, w := range wins {
		v.ClassShares[w.Class] += 1 / float64(len(wins))
		if subs[w.Class] == nil {
			subs[w.Class] = map[SubCause]int{}
		}
		subs[w.Class][w.SubCause]++
	}
	best, bestShare := Class(""), 0.0
	for _, c := range []Class{ReceiverLimited, SenderLimited, NetworkLimited, Mixed, Unknown} {
		if v.ClassShares[c] > bestShare {
			best, bestShare = c, v.ClassShares[c]
		}
	}
	if bestShare >= DominantShare && best != Mixed && best != Unknown {
		v.Class = best
		top := 0
		for sc, n := range subs[best] {
			if n > top || (n == top && sc < v.SubCause) {
				v.SubCause, top = sc, n
			}
		}
		if best == NetworkLimited {
			// Path signals are sparse per window (a lossy long path has a
			// retransmit every few windows): decide the sub-cause over the run.
			v.SubCause = networkSubCause(whole)
		}
		v.Evidence = append(v.Evidence, fmt.Sprintf("%.0f%% of %d windows were %s", 100*bestShare, len(wins), best))
	} else {
		v.Class = Mixed
		v.Evidence = append(v.Evidence, fmt.Sprintf("no class covers %.0f%% of the windows: %s", 100*DominantShare, classVector(v.ClassShares)))
	}
	v.Evidence = append(v.Evidence, fmt.Sprintf("sending socket's time (kernel chronos): idle %.0f%%, rwnd-limited %.0f%%, sndbuf-limited %.0f%%, other busy (network) %.0f%%",
		100*total.Idle, 100*total.Rwnd, 100*total.Sndbuf, 100*total.Network))
	switch v.Class {
	case ReceiverLimited:
		v.Evidence = append(v.Evidence, fmt.Sprintf("peer's window below cwnd with data waiting in %.0f%% of samples; zero window in %.0f%%", 100*whole.WindowBound, 100*whole.ZeroWindow))
		if whole.ReceiverSamples > 0 {
			v.Evidence = append(v.Evidence, fmt.Sprintf("receiver held %.0f KB unread on average, %.0f%% of its buffer", whole.ReceiverUnreadB/1e3, 100*whole.ReceiverUnread))
		}
	case SenderLimited:
		v.Evidence = append(v.Evidence, fmt.Sprintf("delivery rate app-limited in %.0f%% of samples; unsent data >= 1 MSS in %.0f%%; send buffer fill (median) %.0f%%", 100*whole.AppLimited, 100*whole.NotsentAboveMSS, 100*whole.SndbufFill))
	case NetworkLimited:
		v.Evidence = append(v.Evidence, fmt.Sprintf("unsent data waiting in %.0f%% of samples, app-limited in %.0f%%; %d retransmits (%.2f%% of bytes sent); srtt/min_rtt %.2f",
			100*whole.NotsentAboveMSS, 100*whole.AppLimited, whole.Retransmits, 100*whole.RetransRate, whole.SRTTOverMinRTT))
	}
	v.Evidence = append(v.Evidence, fmt.Sprintf("goodput %.2f Mbit/s (bytes acked)", whole.GoodputBits/1e6))
	return v
}

// maxWindows bounds the windows of one classification: a run lasts at most
// an hour, 360,000 windows of the shortest 10 ms.
const maxWindows = 1_000_000

// rtoShare is the share of a run's samples in RTO backoff above which its
// network-limited verdict is said to be retransmission timeouts.
const rtoShare = 0.25

// caLoss is TCP_CA_Loss: the sender is in RTO recovery; caRecovery is
// TCP_CA_Recovery: fast recovery.
const (
	caRecovery = 3
	caLoss     = 4
)

// With only the sending end sampled, a receiver-limited span in which
// less than peerWindowSlowRead of the peer's window crossed per base RTT
// was an application reading slowly; one in which peerWindowFilled or more
// did, a buffer too small for the path.
const (
	peerWindowSlowRead = 0.5
	peerWindowFilled   = 0.7
)

// lossRecoveryShare is the share of a span's samples repairing a loss from
// which a window the receiver closed with nothing unread is said to be the
// loss's (out-of-order data held behind the hole), not a small buffer.
const lossRecoveryShare = 0.3

// lossyRetrans is the retransmitted share of sent bytes above which a
// network-limited run is said to be limited by loss.
const lossyRetrans = 0.002

func networkSubCause(e Evidence) SubCause {
	switch {
	case e.RTOBackoff >= rtoShare:
		return SubRTO
	case e.RetransRate >= lossyRetrans:
		return SubLoss
	case e.SRTTOverMinRTT >= 1.5:
		return SubQueueing
	}
	return SubRate
}

func classVector(m map[Class]float64) string {
	keys := make([]Class, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %.0f%%", k, 100*m[k])
	}
	return out
}

// LiveClass is the class of the last window of a connection's recent
// samples, for a live progress line ("…" until a window is complete).
func LiveClass(snd, rcv []tcpinfo.Sample, window int64) Class {
	if len(snd) < 2 || snd[len(snd)-1].T-snd[0].T < window || !snd[0].Info.HasChronos() {
		return "…"
	}
	end := snd[len(snd)-1].T
	w, ok := series{snd, rcv}.window(end-window, end)
	if !ok {
		return "…"
	}
	return w.Class
}
