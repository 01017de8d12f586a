package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/tcplab/tcplab/record"
)

// Check is one line of the link's self-check: configured beside measured.
type Check struct {
	What       string  `json:"what"`
	Configured string  `json:"configured"`
	Measured   string  `json:"measured"`
	OK         bool    `json:"ok"`
	Note       string  `json:"note,omitempty"`
	Deviation  float64 `json:"deviation"`
}

// selfCheck measures what the link actually did, beside its configuration:
// the base RTT against the configured delays, the drop fraction against the
// configured loss, the delivered rate against the configured rate.
func selfCheck(link *record.LinkRecord, snd []sampleView, v Verdict, goodputBits float64) []Check {
	if link == nil || link.Backend == "" {
		return nil
	}
	var out []Check
	// Base RTT: the smallest min_rtt the sender saw.
	minRTT := math.Inf(1)
	for _, s := range snd {
		if s.minRTT > 0 && float64(s.minRTT) < minRTT {
			minRTT = float64(s.minRTT)
		}
	}
	if !math.IsInf(minRTT, 1) {
		// The smallest RTT sample still carries one data packet's time on
		// the wire at the down rate (and an ACK's at the up rate); allow
		// for two full-size packets more, as TSO sends pairs.
		delays := (link.Down.DelayMs + link.Up.DelayMs) * 1000 // µs
		ser := wireUS(1500, link.Down.RateBits) + wireUS(64, link.Up.RateBits)
		want := delays + ser/2
		tol := math.Max(0.02*delays, 300) + ser/2 + 2*wireUS(1500, link.Down.RateBits)
		dev := minRTT - want
		conf := fmt.Sprintf("%.2f ms", delays/1000)
		if ser > 0 {
			conf += fmt.Sprintf(" (+ up to %.2f ms on the wire at the rate)", ser/1000)
		}
		c := Check{What: "base RTT (sender's min_rtt)", Configured: conf, Measured: fmt.Sprintf("%.2f ms", minRTT/1000),
			OK: math.Abs(dev) <= tol, Deviation: dev / 1000}
		if !c.OK {
			c.Note = fmt.Sprintf("off by %.2f ms, more than the tolerance of %.2f ms", dev/1000, tol/1000)
		}
		if link.Timeline {
			c.Note = strings.TrimSpace(c.Note + " (the timeline changed the link; compare with care)")
		}
		out = append(out, c)
	}
	if c := link.Down.Counters; c != nil && link.Down.Loss > 0 {
		n := float64(c.Forwarded + c.DropLoss + c.DropQueue + c.DropBlack - c.Duplicated)
		if n > 0 {
			p := link.Down.Loss
			got := float64(c.DropLoss) / n
			// 99.9% two-sided bound: a report flags about one honest run in a
			// thousand, not one in a hundred.
			tol := 3.29*math.Sqrt(p*(1-p)/n) + 1/n
			out = append(out, Check{What: "down drop fraction (link counters)", Configured: fmt.Sprintf("%.3f%%", 100*p), Measured: fmt.Sprintf("%.3f%% of %.0f segments", 100*got, n),
				OK: math.Abs(got-p) <= tol, Deviation: got - p})
		}
	}
	if r := link.Down.RateBits; r > 0 && goodputBits > 0 {
		ratio := goodputBits / float64(r)
		c := Check{What: "down delivered rate (bytes acked)", Configured: fmt.Sprintf("%.2f Mbit/s", float64(r)/1e6), Measured: fmt.Sprintf("%.2f Mbit/s (%.0f%%)", goodputBits/1e6, 100*ratio),
			Deviation: ratio - 1}
		// Without configured loss, a network-limited run is bound by the rate
		// (its queue's drops included): delivery must come close to it.
		rateBound := v.Class == NetworkLimited && link.Down.Loss == 0 && !link.Timeline
		switch {
		case ratio > 1.02:
			c.Note = "faster than the configured rate: the limit did not hold"
		case rateBound && ratio < 0.85:
			c.Note = "the rate is the bottleneck, yet delivery is well below it"
		default:
			c.OK = true
			if !rateBound {
				c.Note = "the rate is not the bottleneck here; checked only as an upper bound"
			}
		}
		out = append(out, c)
	}
	return out
}

type sampleView struct{ minRTT uint32 }

// wireUS is the time bytes take at rateBits (0 when unlimited), in µs.
func wireUS(bytes float64, rateBits uint64) float64 {
	if rateBits == 0 {
		return 0
	}
	return bytes * 8 / float64(rateBits) * 1e6
}
