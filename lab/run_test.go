package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenario/units"
	"github.com/tcplab/tcplab/scenarios"
)

func loadShipped(t *testing.T, name string) *scenario.Scenario {
	t.Helper()
	b, err := scenarios.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenario.Parse(name+".yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShippedVerdicts runs the three verdict scenarios under cubic and bbr in
// real namespaces and checks the verdict, that the shares are in report.json
// and in the text summary, and that the lab is gone afterwards.
func TestShippedVerdicts(t *testing.T) {
	labtest.RequireRoot(t)
	cases := []struct {
		scenario string
		verdict  report.Class
		sub      report.SubCause
	}{
		{"receiver-limited", report.ReceiverLimited, report.SubAppNotRead},
		{"network-limited", report.NetworkLimited, ""},
		{"sender-limited", report.SenderLimited, report.SubAppIdle},
	}
	for _, c := range cases {
		for _, cc := range []string{"cubic", "bbr"} {
			t.Run(c.scenario+"/"+cc, func(t *testing.T) {
				s := loadShipped(t, c.scenario)
				s.Duration = units.Duration(3 * time.Second)
				s.Sender.Socket.Congestion = cc
				s.Receiver.Socket.Congestion = cc
				dir := t.TempDir()
				res, err := Run(context.Background(), s, RunOptions{OutDir: dir})
				if err != nil {
					t.Fatal(err)
				}
				sum := res.Summary
				var txt strings.Builder
				report.WriteText(&txt, &sum)
				t.Logf("\n%s", txt.String())
				if sum.Verdict.Class != c.verdict {
					t.Errorf("verdict %s (%s), want %s", sum.Verdict.Class, sum.Verdict.SubCause, c.verdict)
				}
				if c.sub != "" && sum.Verdict.SubCause != c.sub {
					t.Errorf("sub-cause %q, want %q", sum.Verdict.SubCause, c.sub)
				}
				if !sum.Passed() {
					t.Errorf("shipped expectation failed: %+v", sum.Expectations)
				}
				for _, p := range sum.Peers {
					if p.Socket == nil || p.Socket.Congestion != cc {
						t.Errorf("%s socket: %+v, want congestion %s", p.Side, p.Socket, cc)
					}
					if p.Stats == nil || p.Stats.Bytes == 0 || p.Stats.Samples < 100 {
						t.Errorf("%s stats: %+v", p.Side, p.Stats)
					}
				}
				rcv := sum.Peers[1].Stats
				if rcv != nil && (rcv.Lost != 0 || rcv.Duplicated != 0) {
					t.Errorf("TCP lost or duplicated messages: %+v", rcv)
				}
				// report.json carries the shares and the verdict.
				b, err := os.ReadFile(filepath.Join(dir, record.FileReport))
				if err != nil {
					t.Fatal(err)
				}
				var js struct {
					Schema  int                    `json:"schema"`
					Shares  map[string]float64     `json:"shares"`
					Verdict struct{ Class string } `json:"verdict"`
					Windows []json.RawMessage      `json:"windows"`
				}
				if err := json.Unmarshal(b, &js); err != nil {
					t.Fatal(err)
				}
				sumShares := 0.0
				for _, k := range []string{"idle", "rwnd_limited", "sndbuf_limited", "network"} {
					v, ok := js.Shares[k]
					if !ok {
						t.Errorf("report.json lacks shares.%s", k)
					}
					sumShares += v
				}
				if js.Schema != report.SchemaVersion || js.Verdict.Class != string(c.verdict) || len(js.Windows) < 8 || sumShares < 0.99 || sumShares > 1.01 {
					t.Errorf("report.json: schema %d verdict %s windows %d shares sum %.3f", js.Schema, js.Verdict.Class, len(js.Windows), sumShares)
				}
				if !strings.Contains(txt.String(), "receiver-limited    ") || !strings.Contains(txt.String(), "VERDICT: "+string(c.verdict)) {
					t.Errorf("text summary lacks the share table or verdict")
				}
				for _, f := range []string{record.FileScenario, record.FileSamples, record.FileEvents, record.FileText} {
					if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
						t.Errorf("run directory lacks %s", f)
					}
				}
				assertLabGone(t, sum.Meta.RunID)
			})
		}
	}
}

// runSrc parses a scenario written in the test, runs it into a fresh run
// directory and logs the text report.
func runSrc(t *testing.T, name, src string, opts RunOptions) (*Result, string) {
	t.Helper()
	s, err := scenario.Parse(name+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return runScenario(t, s, opts)
}

// runScenario runs s into a fresh run directory (unless opts names one),
// fails the test on a run error and logs the text report.
func runScenario(t *testing.T, s *scenario.Scenario, opts RunOptions) (*Result, string) {
	t.Helper()
	if opts.OutDir == "" {
		opts.OutDir = t.TempDir()
	}
	res, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	report.WriteText(&txt, &res.Summary)
	t.Logf("\n%s", txt.String())
	return res, opts.OutDir
}

func assertLabGone(t *testing.T, runID string) { labtest.AssertNoLeftovers(t, runID) }

// TestRunInterrupted: cancelling the context stops the run early, still
// writes the report with what was recorded and says why, and removes the lab.
func TestRunInterrupted(t *testing.T) {
	labtest.RequireRoot(t)
	s := loadShipped(t, "receiver-limited")
	s.Duration = units.Duration(10 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	dir := t.TempDir()
	t0 := time.Now()
	res, err := Run(ctx, s, RunOptions{OutDir: dir})
	if err == nil {
		t.Fatal("an interrupted run returned no error")
	}
	if el := time.Since(t0); el > 5*time.Second {
		t.Errorf("interrupted run took %v to stop", el)
	}
	if res == nil {
		t.Fatal("no report for an interrupted run")
	}
	if !strings.HasPrefix(res.Summary.Meta.Stopped, "interrupted") {
		t.Errorf("stopped = %q", res.Summary.Meta.Stopped)
	}
	if len(res.Summary.Windows) < 3 {
		t.Errorf("only %d windows recorded before the interrupt", len(res.Summary.Windows))
	}
	assertReportsSay(t, dir, "interrupted")
	assertLabGone(t, res.Summary.Meta.RunID)
}

// assertReportsSay checks that every report format is in dir and that the
// readable ones say why the run stopped.
func assertReportsSay(t *testing.T, dir, why string) {
	t.Helper()
	for _, f := range []string{record.FileReport, record.FileText, record.FileMarkdown, record.FileJUnit, record.FileHTML, record.FileMeta} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("no %s: %v", f, err)
			continue
		}
		if f != record.FileMeta && !strings.Contains(string(b), why) {
			t.Errorf("%s does not say the run stopped (%q)", f, why)
		}
	}
}

// TestRunPeerFailure: a peer that cannot start (a congestion control the
// kernel lacks) fails the run as a peer failure, says why, and leaves nothing.
func TestRunPeerFailure(t *testing.T) {
	labtest.RequireRoot(t)
	s := loadShipped(t, "sender-limited")
	s.Duration = units.Duration(2 * time.Second)
	s.Sender.Socket.Congestion = "highspeed-not-loaded"
	dir := t.TempDir()
	res, err := Run(context.Background(), s, RunOptions{OutDir: dir})
	if err == nil {
		t.Fatal("run with an unknown congestion control succeeded")
	}
	if !strings.Contains(err.Error(), "TCP_CONGESTION") {
		t.Errorf("error does not say what failed: %v", err)
	}
	if res == nil {
		t.Fatal("a run whose peer failed left no report")
	}
	if !errors.Is(err, ErrPeerFailed) || res.Summary.Meta.End != record.EndPeerFailed || !strings.HasPrefix(res.Summary.Meta.Stopped, "sender peer exited with status 1 at ") {
		t.Errorf("err %v, end %q, stopped %q", err, res.Summary.Meta.End, res.Summary.Meta.Stopped)
	}
	assertReportsSay(t, dir, "TCP_CONGESTION")
	assertLabGone(t, res.Summary.Meta.RunID)
}

// TestVerdictsOverWANPath: the three verdict scenarios keep their verdicts
// with 50 ms RTT and 0.1% loss added (userspace link here, netem where the
// kernel has it), under cubic and bbr.
func TestVerdictsOverWANPath(t *testing.T) {
	labtest.RequireRoot(t)
	for _, c := range []struct {
		scenario string
		verdict  report.Class
	}{
		{"receiver-limited", report.ReceiverLimited},
		{"network-limited", report.NetworkLimited},
		{"sender-limited", report.SenderLimited},
	} {
		for _, cc := range []string{"cubic", "bbr"} {
			t.Run(c.scenario+"/"+cc, func(t *testing.T) {
				s := loadShipped(t, c.scenario)
				s.Duration = units.Duration(4 * time.Second)
				d, l := units.Duration(25*time.Millisecond), units.Percent(0.1)
				s.Link.Both = overlayPtr(s.Link.Both, scenario.Direction{Delay: &d, Loss: &l})
				s.Sender.Socket.Congestion, s.Receiver.Socket.Congestion = cc, cc
				if c.scenario == "receiver-limited" {
					// Over 50 ms and 0.1% loss, cubic's loss-limited rate is about
					// 1.1 MB/s (Mathis: MSS/RTT × 1.22/√p; 17.5 Mbit/s was measured
					// on the 20 Mbit/s path with cubic's faster regrowth): at the
					// shipped 2 MB/s reader, and even at 1 MB/s (a CI run gave 53%
					// receiver windows), the truth is honestly mixed. At 0.5 MB/s
					// the reader is unambiguously the bottleneck, which is what
					// this test is about.
					r := units.Rate(4e6)
					s.Receiver.Read.Rate = &r
				}
				if c.scenario == "sender-limited" {
					// The shipped 5 Mbit/s feed is half cubic's loss-limited
					// rate on this path (≈ 9 Mbit/s): after one of its few
					// losses cubic's halved window held it network-limited
					// for a second or more, and a run read mixed (56%
					// sender-limited, 38% network-limited). At 2 Mbit/s the
					// application is unambiguously the bottleneck.
					r := units.Rate(2e6)
					s.Sender.Rate = &r
				}
				res, _ := runScenario(t, s, RunOptions{})
				if res.Summary.Verdict.Class != c.verdict {
					t.Errorf("verdict %s, want %s", res.Summary.Verdict.Class, c.verdict)
				}
				for _, ch := range res.Summary.SelfCheck {
					if strings.HasPrefix(ch.What, "base RTT") && !ch.OK {
						t.Errorf("self-check: %+v", ch)
					}
				}
				assertLabGone(t, res.Summary.Meta.RunID)
			})
		}
	}
}

func overlayPtr(base *scenario.Direction, over scenario.Direction) *scenario.Direction {
	var b scenario.Direction
	if base != nil {
		b = *base
	}
	b = scenario.Overlay(b, &over)
	return &b
}

// TestLossyLongPath: the vendor's high-RTT-and-loss theory is classified
// network-limited with loss as the evidence.
func TestLossyLongPath(t *testing.T) {
	labtest.RequireRoot(t)
	s := loadShipped(t, "lossy-long-path")
	res, err := Run(context.Background(), s, RunOptions{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	report.WriteText(&txt, &res.Summary)
	t.Logf("\n%s", txt.String())
	v := res.Summary.Verdict
	if v.Class != report.NetworkLimited || v.SubCause != report.SubLoss {
		t.Errorf("verdict %s / %s, want network-limited / loss", v.Class, v.SubCause)
	}
	for _, ch := range res.Summary.SelfCheck {
		if !ch.OK {
			t.Errorf("link self-check off: %+v", ch)
		}
	}
}

// TestTimeline: a partition and a link change happen at their times without
// tearing the connection down, are recorded in events.jsonl and shown in the
// report; the userspace link counts what the partition dropped.
func TestTimeline(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: timeline
duration: 4s
link:
  both: { delay: 5ms }
sender: { rate: 20mbit }
timeline:
  - { at: 1s, for: 1s, partition: both }
  - { at: 2500ms, link: { down: { loss: 2% } } }
`
	res, dir := runSrc(t, "timeline", src, RunOptions{})
	sum := res.Summary
	var txt strings.Builder
	report.WriteText(&txt, &sum)
	events, err := record.ReadEvents(filepath.Join(dir, record.FileEvents))
	if err != nil {
		t.Fatal(err)
	}
	var times []float64
	for _, e := range events {
		if e.Kind == "timeline" {
			times = append(times, float64(e.T)/1e9)
			if e.Error != "" {
				t.Errorf("timeline event failed: %+v", e)
			}
		}
	}
	want := []float64{1, 2, 2.5}
	if len(times) != len(want) {
		t.Fatalf("timeline events at %v, want %v", times, want)
	}
	for i := range want {
		if times[i] < want[i] || times[i] > want[i]+0.05 {
			t.Errorf("timeline event %d at %.3fs, want %.3fs (+50ms)", i, times[i], want[i])
		}
	}
	if len(sum.Timeline) != 3 || !strings.Contains(txt.String(), "partition both") {
		t.Errorf("report timeline: %v", sum.Timeline)
	}
	l := sum.Meta.Link
	if l == nil || l.Backend != "userspace" || l.Down.Counters == nil || l.Down.Counters.DropBlack == 0 || l.Down.Counters.DropLoss == 0 {
		t.Errorf("link record: %+v", l)
	}
	for _, p := range sum.Peers {
		if p.Closed != "" {
			t.Errorf("%s connection broke: %s", p.Side, p.Closed)
		}
	}
	if rcv := sum.Peers[1].Stats; rcv == nil || rcv.Lost != 0 {
		t.Errorf("TCP lost messages across a healed partition: %+v", rcv)
	}
}

// TestBackendChoice: auto names the backend and why; netem where the kernel
// lacks it is a setup error that says so, never a silent fallback.
func TestBackendChoice(t *testing.T) {
	d := units.Duration(10 * time.Millisecond)
	s := &scenario.Scenario{Link: scenario.Link{Backend: "auto", Both: &scenario.Direction{Delay: &d}}}
	b, why, err := chooseBackend(s)
	if err != nil {
		t.Fatal(err)
	}
	hasNetem := netemProbe() == nil
	if (b == "netem") != hasNetem || why == "" {
		t.Errorf("auto with a delay chose %s (%s); kernel has netem: %v", b, why, hasNetem)
	}
	r := units.Rate(20e6)
	s = &scenario.Scenario{Link: scenario.Link{Backend: "auto", Down: &scenario.Direction{Rate: &r}}}
	if b, _, _ := chooseBackend(s); b != "netem" {
		t.Errorf("a rate alone should use the kernel's tbf, got %s", b)
	}
	s = &scenario.Scenario{Link: scenario.Link{Backend: "netem", Both: &scenario.Direction{Delay: &d}}}
	_, _, err = chooseBackend(s)
	if hasNetem != (err == nil) {
		t.Errorf("backend netem: err %v, kernel has netem %v", err, hasNetem)
	}
	if err != nil && !strings.Contains(err.Error(), "userspace") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	s = &scenario.Scenario{Link: scenario.Link{Backend: "auto"}, Timeline: []scenario.TimelineEntry{{Partition: "both"}}}
	if !needsNetem(s) {
		t.Error("a blackhole partition needs netem")
	}
}

// TestPcap: --pcap records the headers of what crossed the userspace link,
// readable by any pcap reader; with the kernel backend it is refused.
func TestPcap(t *testing.T) {
	labtest.RequireRoot(t)
	s, err := scenario.Parse("pcap.yaml", []byte("name: pcap\nduration: 2s\nlink: { backend: userspace, both: { delay: 1ms } }\nsender: { rate: 10mbit }\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), s, RunOptions{OutDir: dir, Pcap: true}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, record.FilePcap))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Errorf("link type %v", r.LinkType())
	}
	n, big := 0, 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if len(data) > 0 && data[0]>>4 == 6 {
			continue // IPv6 neighbour discovery of the fresh interfaces
		}
		n++
		if ci.CaptureLength > 128 || len(data) < 40 || data[0]>>4 != 4 || data[12] != 198 || data[16] != 198 {
			t.Fatalf("packet %d: caplen %d, %x", n, ci.CaptureLength, data[:20])
		}
		if ci.Length > 1500 {
			big++ // a TSO super-packet, as read
		}
	}
	t.Logf("%d packets captured, %d of them super-packets", n, big)
	if n < 500 {
		t.Errorf("only %d packets in the capture of 2 s at 10 Mbit/s", n)
	}
	s2, _ := scenario.Parse("pcap2.yaml", []byte("name: pcap2\nduration: 2s\n"))
	if _, err := Run(context.Background(), s2, RunOptions{OutDir: t.TempDir(), Pcap: true}); err == nil || !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "userspace") {
		t.Errorf("pcap with the kernel backend: %v", err)
	}
}

// buildExecPeers builds the test's stand-in user programs.
func buildExecPeers(t *testing.T) (sender, receiver string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"sender", "receiver"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./testdata/execpeers/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	return filepath.Join(dir, "sender"), filepath.Join(dir, "receiver")
}

// TestExecPeers: both ends are user programs (not tcplab's peers); the
// verdict comes from sock_diag samples alone.
func TestExecPeers(t *testing.T) {
	labtest.RequireRoot(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build the stand-in programs")
	}
	snd, rcv := buildExecPeers(t)
	for _, c := range []struct {
		name, link, rcvArgs string
		verdict             report.Class
		sub                 report.SubCause
	}{
		{"slow reader", "", `"-rate", "2000000"`, report.ReceiverLimited, report.SubAppNotRead},
		{"rate-limited link", "link: { down: { rate: 20mbit } }\n", "", report.NetworkLimited, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := ""
			if c.rcvArgs != "" {
				args = ", " + c.rcvArgs
			}
			src := fmt.Sprintf("name: exec\nduration: 3s\n%ssender:\n  exec: { command: [%q] }\nreceiver:\n  port: 6000\n  exec: { command: [%q%s] }\n", c.link, snd, rcv, args)
			res, dir := runSrc(t, "exec", src, RunOptions{})
			v := res.Summary.Verdict
			if v.Class != c.verdict || (c.sub != "" && v.SubCause != c.sub) {
				t.Errorf("verdict %s / %s, want %s / %s", v.Class, v.SubCause, c.verdict, c.sub)
			}
			samples, err := record.ReadSamples(filepath.Join(dir, record.FileSamples))
			if err != nil {
				t.Fatal(err)
			}
			sides := map[string]int{}
			for _, sm := range samples {
				if sm.Source != "sock_diag" {
					t.Fatalf("a %s sample from %q: exec runs are sampled through sock_diag only", sm.Side, sm.Source)
				}
				sides[sm.Side]++
			}
			if sides["sender"] < 100 || sides["receiver"] < 100 {
				t.Errorf("samples per side: %v", sides)
			}
			out, _ := os.ReadFile(filepath.Join(dir, "sender.stdout"))
			if !strings.HasPrefix(string(out), "sent ") {
				t.Errorf("sender.stdout: %q", out)
			}
			assertLabGone(t, res.Summary.Meta.RunID)
		})
	}
}

// TestReceiveBufferTooSmall: a fast reader with a 16 KiB receive buffer over
// 50 ms: receiver-limited, and the receiver evidence (its queue is empty)
// names the buffer, not the application.
func TestReceiveBufferTooSmall(t *testing.T) {
	labtest.RequireRoot(t)
	src := "name: small-rcvbuf\nduration: 4s\nlink: { both: { delay: 25ms } }\nreceiver:\n  read: { rate: max }\n  socket: { rcvbuf: 16KiB }\n"
	res, _ := runSrc(t, "small-rcvbuf", src, RunOptions{})
	if v := res.Summary.Verdict; v.Class != report.ReceiverLimited || v.SubCause != report.SubRcvBufSmall {
		t.Errorf("verdict %s / %s, want receiver-limited / receive buffer too small", v.Class, v.SubCause)
	}
}

// TestMetricsDuringRun scrapes /metrics while a run goes on and finds the
// per-connection RTT, cwnd, bytes acked and limit counters of both ends.
func TestMetricsDuringRun(t *testing.T) {
	labtest.RequireRoot(t)
	s := loadShipped(t, "receiver-limited")
	s.Duration = units.Duration(3 * time.Second)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), s, RunOptions{OutDir: t.TempDir(), Metrics: "127.0.0.1:0", MetricsReady: func(a string) { addrc <- a }})
		done <- err
	}()
	addr := <-addrc
	time.Sleep(1500 * time.Millisecond)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, m := range []string{"tcplab_tcp_rtt_seconds", "tcplab_tcp_cwnd_segments", "tcplab_tcp_bytes_acked_total", "tcplab_tcp_busy_seconds_total",
		"tcplab_tcp_rwnd_limited_seconds_total", "tcplab_tcp_sndbuf_limited_seconds_total", "tcplab_tcp_unread_bytes"} {
		for _, ns := range []string{`netns="sender"`, `netns="receiver"`} {
			if !strings.Contains(text, m+"{") || !regexp.MustCompile(m+`\{[^}]*`+ns).MatchString(text) {
				t.Errorf("no %s for %s in /metrics", m, ns)
			}
		}
	}
	// The sender is rwnd-limited by the slow reader: its counter moved.
	re := regexp.MustCompile(`tcplab_tcp_rwnd_limited_seconds_total\{[^}]*netns="sender"[^}]*\} ([0-9.e+-]+)`)
	if m := re.FindStringSubmatch(text); m == nil || m[1] == "0" {
		t.Errorf("sender's rwnd-limited time not exported or zero: %v", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("/metrics still served after the run")
	}
}

// TestSocketOptionsReadBack sets every socket option on both ends and finds
// the values the kernel holds in the run's record.
func TestSocketOptionsReadBack(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: sockopts
duration: 1s
sender:
  rate: 1mbit
  socket: { sndbuf: 64KiB, nodelay: false, congestion: cubic, keepalive: { idle: 30s, interval: 5s, count: 3 }, user_timeout: 20s, notsent_lowat: 16KiB, linger: 0s }
receiver:
  socket: { rcvbuf: 128KiB, keepalive: { idle: 10s, interval: 2s, count: 9 } }
`
	res, _ := runSrc(t, "sockopts", src, RunOptions{})
	snd, rcv := res.Summary.Peers[0].Socket, res.Summary.Peers[1].Socket
	if snd == nil || rcv == nil {
		t.Fatal("no effective socket options recorded")
	}
	t.Logf("sender %+v\nreceiver %+v", *snd, *rcv)
	if snd.Sndbuf != 2*64<<10 || snd.NoDelay || snd.Congestion != "cubic" || !snd.Keepalive || snd.KeepaliveIdleS != 30 ||
		snd.KeepaliveInterval != 5 || snd.KeepaliveCount != 3 || snd.UserTimeoutMs != 20000 || snd.NotsentLowat != 16<<10 || !snd.Linger || snd.LingerS != 0 {
		t.Errorf("sender's effective options differ from the scenario: %+v", *snd)
	}
	if rcv.Rcvbuf != 2*128<<10 || !rcv.Keepalive || rcv.KeepaliveIdleS != 10 || rcv.KeepaliveInterval != 2 || rcv.KeepaliveCount != 9 || rcv.Linger {
		t.Errorf("receiver's effective options differ from the scenario: %+v", *rcv)
	}
}

// TestScheduleAndStalls: a feed at 1000 messages/s pauses for 1 s (its
// messages wait in the application) and replays them as fast as it can; the
// receiver stalls for 0.5 s. Nothing is lost, the lag shows the pause, and
// the message count is what the schedule produced.
func TestScheduleAndStalls(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: replay
duration: 4s
sender:
  message: { size: 200B }
  schedule:
    - { rate: 1000/s, for: 1s }
    - { pause: 1s }
    - { replay: max }
    - { rate: 1000/s }
receiver:
  stalls:
    - { at: 3s, for: 500ms }
`
	res, _ := runSrc(t, "replay", src, RunOptions{})
	snd, rcv := res.Summary.Peers[0].Stats, res.Summary.Peers[1].Stats
	if snd == nil || rcv == nil {
		t.Fatal("no stats")
	}
	// About 4000 messages produced in 4 s (the connect takes a little).
	if snd.Messages < 3800 || snd.Messages > 4050 {
		t.Errorf("sender sent %d messages, want ≈ 4000", snd.Messages)
	}
	if rcv.Lost != 0 || rcv.Duplicated != 0 {
		t.Errorf("lost %d duplicated %d", rcv.Lost, rcv.Duplicated)
	}
	// Messages produced during the pause waited up to 1 s; the stall adds 0.5 s.
	if rcv.LagMaxMs < 900 || rcv.LagMaxMs > 1300 {
		t.Errorf("max lag %.0f ms, want about 1 s (the pause)", rcv.LagMaxMs)
	}
	if rcv.LagP50Ms > 50 {
		t.Errorf("median lag %.1f ms: most messages should cross at once", rcv.LagP50Ms)
	}
}

// TestSlowConsumerReset: a steady feed into a consumer that reads a tenth of
// it; the server's backlog policy resets the client (RST), the consumer
// notices ECONNRESET, and the messages the reset discarded are counted.
func TestSlowConsumerReset(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: reset
duration: 4s
sender:
  rate: 2000/s
  message: { size: 1KiB }
  policy:
    reset_slow_client: { backlog_above: 256KiB, for: 1s }
receiver:
  read: { rate: 200KB/s, size: 4KiB }
`
	if _, err := scenario.Parse("reset.yaml", []byte(src)); err == nil {
		t.Fatal("a message rate in sender.rate should be refused (it takes bit or byte rates)")
	}
	src = strings.Replace(src, "rate: 2000/s", "rate: 16mbit", 1)
	res, _ := runSrc(t, "reset", src, RunOptions{})
	sum := res.Summary
	var sawReset, sawRST bool
	for _, d := range sum.Disconnects {
		if d.Side == "sender" && strings.Contains(d.Error, "reset by policy") {
			sawReset = true
		}
		if d.Side == "receiver" && strings.Contains(d.Error, "ECONNRESET") && d.ClosedFirst == "sender" {
			sawRST = true
		}
	}
	if !sawReset || !sawRST {
		t.Errorf("disconnects %+v: want the sender's policy reset and the receiver's ECONNRESET", sum.Disconnects)
	}
	m := sum.Messages
	if m.Dropped == 0 || m.Undelivered == 0 || m.Lost != 0 {
		t.Errorf("accounting %+v: want messages dropped by the reset and undelivered ones, no gaps", m)
	}
	if sum.Meta.Stopped != "completed" {
		t.Errorf("stopped = %q: a disconnect must not end the run", sum.Meta.Stopped)
	}
	// The lifecycle: the sender's session ended at its reset, about 1.3 s in.
	lc := sum.Peers[0].Lifecycle
	if lc == nil || lc.SessionS < 0.8 || lc.SessionS > 2.5 || !lc.Reused || lc.IdleBeforeFirstMs > 50 {
		t.Errorf("sender lifecycle %+v", lc)
	}
}

// TestRampAndOff: a ramp from 1000/s to 3000/s over 2 s (4000 messages),
// 1 s off (none), then 1000/s to the end (about 1000): the counts follow.
func TestRampAndOff(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: ramp
duration: 4s
sender:
  message: { size: 100B }
  schedule:
    - { ramp: { from: 1000/s, to: 3000/s, for: 2s } }
    - { off: 1s }
    - { rate: 1000/s }
`
	res, _ := runSrc(t, "ramp", src, RunOptions{})
	snd, rcv := res.Summary.Peers[0].Stats, res.Summary.Peers[1].Stats
	if snd == nil || rcv == nil {
		t.Fatal("no stats")
	}
	if snd.Messages < 4700 || snd.Messages > 5100 {
		t.Errorf("sent %d messages, want about 5000 (4000 ramp + 0 off + 1000)", snd.Messages)
	}
	if rcv.Lost != 0 || rcv.Messages+50 < snd.Messages {
		t.Errorf("receiver %+v for %d sent", rcv, snd.Messages)
	}
}

// TestVanishDetection: the receiver vanishes (no FIN, no RST) at 1 s; the
// sender, with TCP_USER_TIMEOUT 2 s and data in flight, notices ETIMEDOUT,
// and the report gives that detection time. The kernel counts the user
// timeout from the first RTO retransmission (its samples show it: backoff
// turns 1), not from the failure, so the detection is the time to that
// retransmission (RTO after a loss probe, 0.3 s here) plus 2 s; the test
// holds both parts against the sender's own samples, not against a fixed
// guess that a loaded machine's later RTO would break.
func TestVanishDetection(t *testing.T) {
	timerBound(t)
	src := `name: vanish
duration: 5s
sender:
  rate: 1mbit
  socket: { user_timeout: 2s }
receiver:
  vanish: 1s
`
	res, dir := runSrc(t, "vanish", src, RunOptions{})
	var det report.Disconnect
	for _, d := range res.Summary.Disconnects {
		if d.Side == "sender" && strings.Contains(d.Error, "ETIMEDOUT") {
			det = d
		}
		if d.Side == "receiver" {
			t.Errorf("the vanished receiver reported a disconnect: %+v", d)
		}
	}
	if det.DetectionS == 0 || math.Abs(det.T-1-det.DetectionS) > 1e-6 {
		t.Fatalf("no sender ETIMEDOUT measured from the vanish at 1 s: %+v", res.Summary.Disconnects)
	}
	samples, _ := labtest.ReadRecorded(t, dir)
	firstRTO := -1.0
	for _, s := range samples {
		if s.Side == "sender" && s.Info.Backoff > 0 && s.T >= 1e9 {
			firstRTO = float64(s.T) / 1e9
			break
		}
	}
	if firstRTO < 0 {
		t.Fatal("the sender's samples show no RTO after the vanish")
	}
	// The sample showing the backoff comes up to one interval (10 ms, more
	// on a loaded machine) after the retransmission; the application
	// notices the error a little after the kernel.
	if counted := det.T - firstRTO; counted < 1.95 || counted > 2.2 {
		t.Errorf("ETIMEDOUT %.3fs after the first RTO retransmission (%.3fs), want about user_timeout 2 s", counted, firstRTO)
	}
	if toRTO := firstRTO - 1; toRTO < 0.2 || toRTO > 1 {
		t.Errorf("first RTO retransmission %.3fs after the vanish, want 0.2..1 s (RTO min 200 ms)", toRTO)
	}
}

// TestBuiltinSenderExecReceiver: a built-in listening sender with a user's
// program as the client (bash reading the stream through /dev/tcp): the
// built-in peer says ready although the run's clock started at launch, the
// program connects, and the sock_diag samples classify the paced sender.
func TestBuiltinSenderExecReceiver(t *testing.T) {
	labtest.RequireRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for its /dev/tcp client")
	}
	src := `name: mixed-peers
duration: 3s
sender:
  listen: true
  rate: 2mbit
receiver:
  exec:
    command: [bash, -c, 'exec 3<>/dev/tcp/$TCPLAB_SENDER_ADDR/$TCPLAB_PORT && cat <&3 >/dev/null']
`
	res, _ := runSrc(t, "mixed-peers", src, RunOptions{})
	if res.Summary.Messages.Connections != 1 || res.Summary.Verdict.Class != "sender-limited" {
		t.Errorf("%d connections, verdict %s; want 1 and sender-limited", res.Summary.Messages.Connections, res.Summary.Verdict.Class)
	}
}
