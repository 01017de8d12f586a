package report

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// TestRecordedRuns classifies runs recorded on kernel 6.18 (3 s, 25 ms
// samples, cubic and bbr) without any kernel: the verdict, its sub-cause and
// the chrono shares must come out as they did live.
func TestRecordedRuns(t *testing.T) {
	cases := []struct {
		dir   string
		class Class
		sub   SubCause
	}{
		{"receiver-limited-cubic", ReceiverLimited, SubAppNotRead},
		{"receiver-limited-bbr", ReceiverLimited, SubAppNotRead},
		{"network-limited-cubic", NetworkLimited, ""},
		{"network-limited-bbr", NetworkLimited, ""},
		{"sender-limited-cubic", SenderLimited, SubAppIdle},
		{"sender-limited-bbr", SenderLimited, SubAppIdle},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			ss, ev := labtest.ReadRecorded(t, filepath.Join("testdata", c.dir))
			sum := Build(record.Meta{Scenario: c.dir, WindowS: 0.25}, ss, ev, 250e6)
			if sum.Verdict.Class != c.class || (c.sub != "" && sum.Verdict.SubCause != c.sub) {
				t.Errorf("verdict %s / %s, want %s / %s\nevidence: %v", sum.Verdict.Class, sum.Verdict.SubCause, c.class, c.sub, sum.Verdict.Evidence)
			}
			sh := sum.Shares
			if s := sh.Idle + sh.Rwnd + sh.Sndbuf + sh.Network; math.Abs(s-1) > 1e-9 {
				t.Errorf("shares add up to %v", s)
			}
			switch c.class {
			case ReceiverLimited:
				if sh.Rwnd < 0.5 {
					t.Errorf("rwnd share %.2f", sh.Rwnd)
				}
			case NetworkLimited:
				if sh.Network < 0.7 {
					t.Errorf("network share %.2f", sh.Network)
				}
			case SenderLimited:
				if sh.Idle < 0.5 {
					t.Errorf("idle share %.2f", sh.Idle)
				}
			}
			if len(sum.Windows) < 10 {
				t.Errorf("%d windows in 3 s", len(sum.Windows))
			}
			if len(sum.Peers) != 2 || sum.Peers[0].Stats == nil || sum.Peers[1].Socket == nil {
				t.Errorf("peer accounts missing: %+v", sum.Peers)
			}
		})
	}
}

// TestLabelRules checks each rule on made-up spans, including the cases that
// fool naive rules (TCPINFO.md).
func TestLabelRules(t *testing.T) {
	cases := []struct {
		name  string
		sh    Shares
		e     Evidence
		class Class
		sub   SubCause
	}{
		{"rwnd dominant, unread high", Shares{Rwnd: 0.9, Network: 0.1}, Evidence{Samples: 10, ReceiverSamples: 10, ReceiverUnread: 0.6}, ReceiverLimited, SubAppNotRead},
		{"rwnd under bbr, window bound", Shares{Rwnd: 0.32, Network: 0.68}, Evidence{Samples: 10, ReceiverSamples: 10, WindowBound: 0.8, NotsentAboveMSS: 1, ReceiverUnread: 0.63}, ReceiverLimited, SubAppNotRead},
		{"rwnd, receiver empty: buffer too small", Shares{Rwnd: 0.5, Network: 0.5}, Evidence{Samples: 10, ReceiverSamples: 10, ReceiverUnread: 0.01}, ReceiverLimited, SubRcvBufSmall},
		{"rwnd, receiver empty, loss being repaired: the loss holds the window", Shares{Rwnd: 0.5, Network: 0.5}, Evidence{Samples: 10, ReceiverSamples: 10, ReceiverUnread: 0.01, LossRecovery: 0.6, Retransmits: 40}, NetworkLimited, SubLoss},
		{"rwnd, receiver empty, a little recovery: buffer too small", Shares{Rwnd: 0.5, Network: 0.5}, Evidence{Samples: 10, ReceiverSamples: 10, ReceiverUnread: 0.01, LossRecovery: 0.1, Retransmits: 2}, ReceiverLimited, SubRcvBufSmall},
		{"cwnd cut after a loss while the reader has a backlog", Shares{Network: 1}, Evidence{Samples: 10, ReceiverSamples: 10, NotsentAboveMSS: 1, ReceiverUnread: 0.5, ReceiverUnreadMin: 0.4, Retransmits: 2}, ReceiverLimited, SubAppNotRead},
		{"pacing cap looks network to the chronos", Shares{Network: 1}, Evidence{Samples: 10, PacingCapped: 1, NotsentAboveMSS: 1}, SenderLimited, SubPacingCap},
		{"sndbuf chrono", Shares{Sndbuf: 0.67, Network: 0.33}, Evidence{Samples: 10, AppLimited: 1}, SenderLimited, SubSendBuffer},
		{"small sndbuf under cubic: s = 0", Shares{Network: 1}, Evidence{Samples: 10, AppLimited: 1, SndbufFill: 2.6}, SenderLimited, SubSendBuffer},
		{"idle app", Shares{Idle: 0.95, Network: 0.05}, Evidence{Samples: 10, AppLimited: 1}, SenderLimited, SubAppIdle},
		{"slow app with idle 0", Shares{Network: 1}, Evidence{Samples: 10, AppLimited: 1}, SenderLimited, SubAppIdle},
		{"network with loss", Shares{Network: 1}, Evidence{Samples: 10, NotsentAboveMSS: 1, Retransmits: 5}, NetworkLimited, SubLoss},
		{"network with queueing", Shares{Network: 1}, Evidence{Samples: 10, NotsentAboveMSS: 1, SRTTOverMinRTT: 3}, NetworkLimited, SubQueueing},
		{"network, bbr quiet", Shares{Network: 1}, Evidence{Samples: 10, NotsentAboveMSS: 1, SRTTOverMinRTT: 1.18}, NetworkLimited, SubRate},
		{"busy but nothing waits", Shares{Network: 0.8, Idle: 0.2}, Evidence{Samples: 10, NotsentAboveMSS: 0.2, AppLimited: 0.3}, Mixed, ""},
		{"no samples", Shares{}, Evidence{}, Unknown, ""},
	}
	for _, c := range cases {
		class, sub := label(c.sh, c.e)
		if class != c.class || sub != c.sub {
			t.Errorf("%s: got %s / %q, want %s / %q", c.name, class, sub, c.class, c.sub)
		}
	}
}

func TestVerdictMixedAndDominant(t *testing.T) {
	mk := func(classes string) []Window {
		var ws []Window
		for _, c := range classes {
			w := Window{Class: map[rune]Class{'S': SenderLimited, 'R': ReceiverLimited, 'N': NetworkLimited}[c]}
			ws = append(ws, w)
		}
		return ws
	}
	if v := verdict(Shares{}, mk("RRRRRRNNSS"), Evidence{}); v.Class != ReceiverLimited {
		t.Errorf("60%% receiver: %s", v.Class)
	}
	v := verdict(Shares{}, mk("RRRRRNNNSS"), Evidence{})
	if v.Class != Mixed || !strings.Contains(strings.Join(v.Evidence, " "), "receiver-limited 50%") {
		t.Errorf("50%% receiver: %s %v", v.Class, v.Evidence)
	}
	if v := verdict(Shares{}, nil, Evidence{}); v.Class != Unknown {
		t.Errorf("no windows: %s", v.Class)
	}
}

// TestNoChronos: a kernel older than 4.10 (tcp_info shorter than 192 bytes)
// cannot be classified, and the report says why instead of guessing.
func TestNoChronos(t *testing.T) {
	ss := []tcpinfo.Sample{{T: 0, Side: "sender"}, {T: 1e9, Side: "sender"}}
	for i := range ss {
		ss[i].Info.Len = 168
	}
	_, _, v := Classify(ss, nil, 250e6)
	if v.Class != Unknown || !strings.Contains(v.Evidence[0], "168 bytes") {
		t.Errorf("got %s %v", v.Class, v.Evidence)
	}
}

// FuzzDecodeRecorded: the run directory's line readers never panic, and
// whatever they accept builds a Summary.
func FuzzDecodeRecorded(f *testing.F) {
	f.Add([]byte(`{"t":1,"side":"sender","conn":0,"len":280,"info":{}}` + "\n"))
	f.Add([]byte(`{"t":5,"side":"receiver","kind":"connected"}` + "\n\n"))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		samples, _ := record.DecodeSamples(bytes.NewReader(b), "samples.jsonl")
		events, _ := record.DecodeEvents(bytes.NewReader(b), "events.jsonl")
		Build(record.Meta{DurationS: 1, WindowS: 0.25}, samples, events, 250e6)
	})
}

// TestClassifyDamagedSpan: samples stamped ten years apart (a damaged
// samples.jsonl; the fuzzer found one) are refused at once instead of
// being classified window by window for hours.
func TestClassifyDamagedSpan(t *testing.T) {
	ss := []tcpinfo.Sample{{T: 1, Side: "sender"}, {T: 10 * 365 * 24 * 3600 * 1e9, Side: "sender"}}
	ss[0].Info.Len, ss[1].Info.Len = 280, 280
	done := make(chan Verdict, 1)
	go func() { _, _, v := Classify(ss, nil, 250e6); done <- v }()
	select {
	case v := <-done:
		if v.Class != Unknown || !strings.Contains(strings.Join(v.Evidence, " "), "damaged") {
			t.Errorf("verdict %+v, want unknown: damaged", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Classify did not return within 5 s")
	}
}
