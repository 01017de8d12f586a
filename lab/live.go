package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/tcpinfo"
)

// liveProgress rewrites one status line on w every half second while the
// run goes on: elapsed / duration, goodput over the last second, the RTT
// and the current window's class, read from the samples as they are
// written. It returns when ctx ends, after clearing the line.
func liveProgress(ctx context.Context, w io.Writer, samplesPath string, start int64, dur, window time.Duration) {
	f, err := os.Open(samplesPath)
	if err != nil {
		return
	}
	defer f.Close()
	recent := map[string]map[int][]tcpinfo.Sample{peers.RoleSender: {}, peers.RoleReceiver: {}}
	var partial []byte
	buf := make([]byte, 1<<20)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	keep := int64(window) + int64(time.Second)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(w, "\r\x1b[K")
			return
		case <-tick.C:
		}
		for {
			n, _ := f.Read(buf)
			if n == 0 {
				break
			}
			partial = append(partial, buf[:n]...)
		}
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			var s tcpinfo.Sample
			if json.Unmarshal(partial[:i], &s) == nil && recent[s.Side] != nil {
				ss := append(recent[s.Side][s.Conn], s)
				for len(ss) > 1 && ss[len(ss)-1].T-ss[0].T > keep {
					ss = ss[1:]
				}
				recent[s.Side][s.Conn] = ss
			}
			partial = partial[i+1:]
		}
		now := tcpinfo.Monotonic() - start
		// The busiest connection over the last second speaks for the run.
		var goodput float64
		best, bestAcked := -1, uint64(0)
		for id, ss := range recent[peers.RoleSender] {
			if len(ss) < 2 || now-ss[len(ss)-1].T > int64(time.Second) {
				continue
			}
			a, b := firstWithin(ss, int64(time.Second)), &ss[len(ss)-1]
			if span := float64(b.T-a.T) / 1e9; span > 0 && b.Info.BytesAcked >= a.Info.BytesAcked {
				d := b.Info.BytesAcked - a.Info.BytesAcked
				goodput += float64(d) * 8 / span
				if best < 0 || d > bestAcked {
					best, bestAcked = id, d
				}
			}
		}
		line := fmt.Sprintf("%5.1fs / %v", float64(now)/1e9, dur)
		if best >= 0 {
			snd := recent[peers.RoleSender][best]
			rtt := float64(snd[len(snd)-1].Info.RTT) / 1e3
			label := report.LiveClass(snd, recent[peers.RoleReceiver][best], int64(window))
			line += fmt.Sprintf("  %8.2f Mbit/s  rtt %6.1f ms  now: %s", goodput/1e6, rtt, label)
		}
		fmt.Fprintf(w, "\r\x1b[K%s", line)
	}
}

// firstWithin is the first sample no older than d before the last one.
func firstWithin(ss []tcpinfo.Sample, d int64) *tcpinfo.Sample {
	last := ss[len(ss)-1].T
	for i := range ss {
		if last-ss[i].T <= d {
			return &ss[i]
		}
	}
	return &ss[0]
}
