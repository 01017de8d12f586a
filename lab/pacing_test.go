package lab

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// TestMaxPacingRate: socket.max_pacing_rate caps a bulk sender at that
// rate on an unimpaired link (TCP paces itself, no fq here), the kernel's
// value is read back, and the verdict names the cap.
func TestMaxPacingRate(t *testing.T) {
	labtest.RequireRoot(t)
	src := "name: paced\nduration: 3s\nlink: { backend: userspace }\nsender:\n  socket: { max_pacing_rate: 20mbit }\n"
	s, err := scenario.Parse("paced.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), s, RunOptions{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sum := &res.Summary
	var txt strings.Builder
	report.WriteText(&txt, sum)
	var snd *report.Peer
	for i := range sum.Peers {
		if sum.Peers[i].Side == "sender" {
			snd = &sum.Peers[i]
		}
	}
	if snd == nil || snd.Socket == nil || snd.Socket.MaxPacingRate != 2.5e6 {
		t.Fatalf("the sender's socket as read back: %+v\n%s", snd, txt.String())
	}
	if g := sum.Path.GoodputBits; math.Abs(g-20e6) > 2e6 {
		t.Errorf("goodput %.2f Mbit/s, want 20 ± 2 (the cap)\n%s", g/1e6, txt.String())
	}
	if v := sum.Verdict; v.Class != report.SenderLimited || v.SubCause != report.SubPacingCap {
		t.Errorf("verdict %s, want sender-limited / pacing cap\n%s", v.Text(" / "), txt.String())
	}
	if !strings.Contains(txt.String(), "max pacing 20.00 Mbit/s") {
		t.Errorf("the text report does not show the cap:\n%s", txt.String())
	}
	_, err = scenario.Parse("bad.yaml", []byte("sender:\n  socket: { max_pacing_rate: max }\n"))
	if err == nil || !strings.Contains(err.Error(), "sender.socket.max_pacing_rate") || !strings.Contains(err.Error(), "8kbit..32gbit") {
		t.Errorf("max_pacing_rate: max: %v", err)
	}
}
