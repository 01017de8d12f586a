package lab

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenario/units"
)

// Inference bounds: a base RTT below minDelayRTTMs is the lab's own stack,
// not a path's; a retransmitted share below minLossShare is not loss worth
// emulating.
const (
	minDelayRTTMs = 1.0
	minLossShare  = 0.001
	// ownRTTMs is what the hosts' stacks and the lab's link add to every
	// RTT on their own: an unimpaired userspace link's min_rtt is 0.07 ms,
	// and re-running a delay inferred from the whole min_rtt came out
	// 0.1–0.22 ms longer. The inferred delay leaves it out.
	ownRTTMs = 0.1
	// wireOverTCP is a 1500-byte packet's bytes over its TCP payload: a
	// link rate is counted on the wire, goodput in payload.
	wireOverTCP = 1500.0 / 1448
	// burstyLoss is the mean retransmissions per loss event from which
	// loss is inferred as bursty (Gilbert-Elliott): random loss measured
	// 0.98–1.1, bursts of mean 5 packets 3.2–6.3.
	burstyLoss = 2.0
	// minWatchedDurationS is the shortest run inferred from a watch.
	minWatchedDurationS = 10
)

// InferScenario writes a commented scenario whose link and peers
// reproduce what the run recorded in dir measured: the delay from the
// sender's min_rtt, loss from its retransmissions, the bottleneck rate
// from the goodput when the run was network-limited, the reader's rate
// when it was receiver-limited because the application did not read, the
// sender's rate when it was the application that held it, the message size
// from the peers' accounts, and the verdict as the expectation the new run
// must meet. Each inferred value says where it came from. name names the
// new scenario.
func InferScenario(dir, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, record.FileReport))
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory tcplab can infer from: %w", dir, err)
	}
	var sum report.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, record.FileReport), err)
	}
	v := sum.Verdict
	if v.Class == report.Unknown || v.Class == "" {
		return nil, fmt.Errorf("%s: the run's verdict is unknown (%s): nothing to infer a path from", dir, strings.Join(v.Evidence, "; "))
	}
	var snd, rcv *record.Stats
	var sock *record.EffectiveSocket
	handshake := 0.0
	for _, p := range sum.Peers {
		switch p.Side {
		case record.RoleSender:
			snd, sock = p.Stats, p.Socket
			handshake = p.HandshakeMs
		case record.RoleReceiver:
			rcv = p.Stats
			if handshake == 0 {
				handshake = p.HandshakeMs
			}
		}
	}
	watched := sum.Meta.Watch != nil
	if watched && v.SubCause == report.SubNotReceiver {
		return nil, fmt.Errorf("%s: the watch had the receiving end only, and it kept up: the sender or the path held the transfer, which that end cannot tell apart — watch the sending end to infer a path", dir)
	}
	if !watched && (snd == nil || snd.Messages == 0) {
		return nil, fmt.Errorf("%s: the sender wrote no messages of tcplab's feed (a program's or HTTP run): init --from infers a feed's path only", dir)
	}
	p := sum.Path
	var out strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&out, format, a...) }
	w("# yaml-language-server: $schema=%s\n", scenario.SchemaURL)
	w("# Inferred by tcplab init --from %s\n", dir)
	if watched {
		w("# from a watch %s (%s, %.1f s; the verdict's connection: its %s end sampled): %s\n", sum.Meta.RunID, sum.Meta.Watch.Target, sum.Meta.DurationS, sum.Ends, v.Text(" — "))
	} else {
		w("# from run %s (%s, %.1f s): %s\n", sum.Meta.RunID, sum.Meta.Scenario, sum.Meta.DurationS, v.Text(" — "))
	}
	w("# Each value says what it was inferred from. Run it, and compare its report with the\n# original's: the verdict, the base RTT and the goodput should come out alike.\n")
	w("name: %s\n", name)
	w("description: Inferred from %s (%s).\n", sum.Meta.RunID, sum.Meta.Title())
	if watched && sum.Meta.DurationS < minWatchedDurationS {
		// A watch starts mid-connection; the run starts with a handshake,
		// slow start and an empty buffer, which weigh on a short run.
		w("# duration: %.0f s, not the watch's %.1f s: a run's start (slow start, a buffer filling) weighs little over it\n", float64(minWatchedDurationS), sum.Meta.DurationS)
		w("duration: %s\n", seconds(minWatchedDurationS))
	} else {
		w("duration: %s\n", seconds(sum.Meta.DurationS))
	}
	if sum.Meta.SampleIntervalS > 0 {
		w("sample_interval: %s\n", seconds(sum.Meta.SampleIntervalS))
	}
	if sum.Meta.WindowS > 0 {
		w("window: %s\n", seconds(sum.Meta.WindowS))
	}
	// The link.
	var down, both []string
	rateBits := 0.0
	if v.Class == report.NetworkLimited && (v.SubCause == report.SubRate || v.SubCause == report.SubQueueing || v.SubCause == report.SubLoss && p.RetransRate < 0.01) {
		rateBits = p.GoodputBits * wireOverTCP
	}
	if base := p.MinRTTMs; base >= minDelayRTTMs {
		// The handshake's small packets cross a rate-limited link without
		// its serialisation time, which every data segment's RTT carries:
		// the smaller is the path's delay (a lost SYN would make the
		// handshake far longer, a loaded host a little; then min_rtt).
		whose := "sender's"
		if sum.Ends == report.EndsReceiving {
			whose = "receiving end's (its handshake's)"
		}
		from := fmt.Sprintf("half the %s smallest min_rtt, %.2f ms (the path's base RTT)", whose, base)
		if handshake > 0.5*base && handshake < base {
			from = fmt.Sprintf("half the handshake's round trip, %.2f ms (min_rtt %.2f ms adds the data's time on the wire at the bottleneck)", handshake, base)
			base = handshake
		} else if rateBits > 0 {
			// Every RTT sample waits for the sender's burst to cross the
			// bottleneck — one to two and a half segments in the lab's
			// runs (the stack's minimum TSO size is two) — and the link
			// adds that again at the rate: take off one and a half.
			wire := 1.5 * 1500 * 8 / rateBits * 1000
			from = fmt.Sprintf("half the sender's smallest min_rtt, %.2f ms, less %.2f ms for one and a half 1500-byte packets on the wire at the bottleneck rate", base, wire)
			base -= wire
		}
		oneWay := units.Duration(time.Duration(math.Round((base-ownRTTMs)/2*100)) * 10 * time.Microsecond)
		both = append(both, "delay: "+oneWay.String())
		w("# delay: %s, less %.1f ms the hosts' stacks add on their own\n", from, ownRTTMs)
	} else {
		w("# no delay: the sender's min_rtt was %.3f ms, the lab's own stack\n", p.MinRTTMs)
	}
	if p.RetransRate >= minLossShare && p.LossBurst >= burstyLoss {
		// Losses came in bursts: a Gilbert-Elliott channel whose bad state
		// loses everything, left after LossBurst packets on average, and
		// entered as often as the loss rate asks: π = p / (p + r).
		r := 1 / p.LossBurst
		pi := min(p.RetransRate, 0.5)
		enter := pi * r / (1 - pi)
		down = append(down, fmt.Sprintf("gilbert_elliott: { p: %s%%, r: %s%% }", trimFloat(math.Round(enter*100*1000)/1000), trimFloat(math.Round(r*100*100)/100)))
		w("# down loss: bursty — %.1f segments retransmitted per loss event on average (random loss gives about 1): a Gilbert-Elliott channel with mean bursts of %.1f packets and the retransmitted share of bytes, %.3f%% (%d retransmits), as its loss rate — an upper bound: some retransmissions are spurious\n", p.LossBurst, p.LossBurst, 100*p.RetransRate, p.Retransmits)
	} else if p.RetransRate >= minLossShare {
		loss := math.Round(p.RetransRate*100*100) / 100
		down = append(down, fmt.Sprintf("loss: %s%%", trimFloat(loss)))
		w("# down loss: the sender's retransmitted share of bytes, %.3f%% (%d retransmits) — an upper bound: some retransmissions are spurious", 100*p.RetransRate, p.Retransmits)
		if p.LossBurst > 0 {
			w("; random: %.1f segments per loss event", p.LossBurst)
		}
		w("\n")
	}
	if rateBits > 0 {
		down = append(down, "rate: "+bitRate(rateBits).String())
		w("# down rate: the goodput, %.2f Mbit/s, on the wire (× 1500/1448): the run was network-limited (%s)\n", p.GoodputBits/1e6, v.SubCause)
	}
	w("link:\n")
	if len(both) > 0 {
		w("  both: { %s }\n", strings.Join(both, ", "))
	}
	if len(down) > 0 {
		w("  down: { %s }\n", strings.Join(down, ", "))
	}
	if len(both) == 0 && len(down) == 0 {
		w("  both: {}\n")
	}
	// The sender.
	w("sender:\n")
	if v.Class == report.SenderLimited && (v.SubCause == report.SubAppIdle || v.SubCause == report.SubPacingCap) {
		w("  # rate: what the application sent, %.2f Mbit/s of goodput: the run was sender-limited (%s)\n", p.GoodputBits/1e6, v.SubCause)
		w("  rate: %s\n", bitRate(p.GoodputBits))
	} else {
		w("  # rate: max (bulk): the application always had data (%s)\n", v.Text(", "))
		w("  rate: max\n")
	}
	if snd != nil && snd.Messages > 0 {
		size := int(math.Round(float64(snd.Bytes) / float64(snd.Messages)))
		w("  # message size: the sender's bytes over its messages (%d over %d)\n", snd.Bytes, snd.Messages)
		w("  message: { size: %dB }\n", max(size, 24))
	} else {
		w("  # message size: tcplab's default (%s): a watch sees the socket, not the application's writes\n", scenario.DefaultMessageSize)
	}
	if sock != nil && sock.Congestion != "" {
		w("  socket: { congestion: %s }\n", sock.Congestion)
	}
	// The receiver.
	w("receiver:\n")
	if v.Class == report.ReceiverLimited && watched {
		// The window opens as the application reads: in the steady state
		// what was acknowledged (or received) is what it read. (A buffer
		// too small gives the same rate by another cause: the watch's
		// one end cannot size the peer's buffer.)
		w("  # read rate: the watched %s end's goodput, %.2f Mbit/s: the window opened only as fast as that (receiver-limited, %s)\n", sum.Ends, p.GoodputBits/1e6, v.SubCause)
		w("  read: { rate: %s, size: 16KiB }\n", bitRate(p.GoodputBits))
	} else if v.Class == report.ReceiverLimited && v.SubCause == report.SubAppNotRead && rcv != nil && sum.Meta.DurationS > 0 {
		// What the application read over the run, not the goodput: the
		// goodput also counts what filled its buffer unread.
		rate := float64(rcv.Bytes) / sum.Meta.DurationS
		w("  # read rate: what the receiving application read, %d bytes over %.1f s: it did not keep up (receiver-limited)\n", rcv.Bytes, sum.Meta.DurationS)
		w("  read: { rate: %s, size: 16KiB }\n", bitRate(8*rate))
	} else {
		w("  read: { rate: max }\n")
	}
	w("expect:\n  - verdict == %s\n", v.Class)
	text := []byte(out.String())
	if _, err := scenario.Parse(name+".yaml", text); err != nil {
		return nil, fmt.Errorf("the inferred scenario does not validate (a bug of tcplab's): %w\n%s", err, text)
	}
	return text, nil
}

func trimFloat(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

// seconds is s as the scenario writes a duration, to the millisecond.
func seconds(s float64) units.Duration {
	return units.Duration(time.Duration(math.Round(s*1000)) * time.Millisecond)
}

// bitRate is bits/s as the scenario writes a rate, to the kbit/s.
func bitRate(bits float64) units.Rate {
	return units.Rate(max(8, math.Round(bits/1e3)) * 1e3)
}
