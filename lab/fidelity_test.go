package lab

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// TestPartitionIsRTO: a 3 s partition under a paced sender is named for
// what the samples show — retransmission timeouts with the timer backed
// off — not "queueing" (it was, window after window, before the RTO
// sub-cause).
func TestPartitionIsRTO(t *testing.T) {
	timerBound(t)
	src := `name: partition-rto
duration: 5s
link: { both: { delay: 5ms } }
sender: { rate: 10mbit }
timeline:
  - { at: 1s, for: 3s, partition: both }
`
	res, _ := runSrc(t, "partition-rto", src, RunOptions{})
	var in, rto int
	for _, w := range res.Summary.Windows {
		if w.Start >= 1.5 && w.End <= 3.9 { // inside, past the first RTO
			in++
			if w.Class == report.NetworkLimited && w.SubCause == report.SubRTO {
				rto++
			}
		}
	}
	if in == 0 || rto*10 < in*8 {
		t.Errorf("%d of %d windows inside the partition were network-limited by retransmission timeouts, want 80%%: %+v", rto, in, res.Summary.Windows)
	}
}

// TestStartedAtIsTimeZero: meta's started_at is the wall-clock instant of
// the samples' t = 0 — after the lab was built and the peers got ready (it
// was the moment the run began, 52–72 ms earlier here), and the run's
// duration after it ends before Run returns.
func TestStartedAtIsTimeZero(t *testing.T) {
	timerBound(t)
	called := time.Now()
	res, _ := runSrc(t, "t0", "name: t0\nduration: 1s\nsender: { rate: 1mbit }\n", RunOptions{})
	returned := time.Now()
	at, err := time.Parse(time.RFC3339Nano, res.Summary.Meta.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	if built := at.Sub(called); built < 5*time.Millisecond || at.Add(time.Second).After(returned) {
		t.Errorf("started_at %v: %v after Run was called (the lab takes longer to build), its end %v before Run returned",
			at, built, returned.Sub(at.Add(time.Second)))
	}
}

// TestSweepRerunsDistortedPoint: a point the lab distorts — bulk through
// the userspace link with no rate asked, the link itself the bottleneck —
// runs again alone once; still distorted, it fails, says so in sweep.txt,
// and its first run is kept beside it.
func TestSweepRerunsDistortedPoint(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: distorted-sweep
duration: 2s
link: { backend: userspace }
matrix:
  sender.message.size: [1KiB, 16KiB]
`
	sw, err := scenario.ParseSweep("d.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rep, err := RunSweep(context.Background(), sw, SweepOptions{OutDir: dir, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	txt, _ := os.ReadFile(filepath.Join(dir, record.FileSweepText))
	for _, p := range rep.Points {
		if !p.Rerun || p.Trust != report.TrustDistorted || p.Passed {
			t.Errorf("%s: rerun %v, trust %q, passed %v; want run again, distorted, failed", p.ID, p.Rerun, p.Trust, p.Passed)
		}
		if _, err := os.Stat(filepath.Join(dir, p.ID+".distorted", record.FileReport)); err != nil {
			t.Errorf("%s: the first run is not kept: %v", p.ID, err)
		}
		// Why it is distorted travels with the row: the lab was the bottleneck.
		if !slices.ContainsFunc(p.TrustReasons, func(r report.TrustReason) bool {
			return r.Kind == report.TrustLabBottleneck && r.Level == report.TrustDistorted
		}) {
			t.Errorf("%s: trust reasons %+v, want the lab's own bottleneck", p.ID, p.TrustReasons)
		}
	}
	if !strings.Contains(string(txt), "trust distorted, run again alone") || !strings.Contains(string(txt), "distorted: the userspace link queued packets no rate asked for") {
		t.Errorf("sweep.txt does not say it, or why:\n%s", txt)
	}
	// sweep.json carries the reasons, and reads back with them.
	back, err := readSweepJSON(dir)
	if err != nil || len(back.Points) == 0 || len(back.Points[0].TrustReasons) == 0 {
		t.Errorf("sweep.json read back without the trust reasons (%v)", err)
	}
}

// TestThroughputSweep: a sweep with no failure event reports each point's
// goodput, base RTT and retransmits (it printed "detected never" before),
// and its bulk points, bounded by small link rates, run as light ones.
func TestThroughputSweep(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: throughput
duration: 2s
link: { both: { delay: 5ms } }
matrix:
  link.down.rate: [10mbit, 40mbit]
`
	sw, err := scenario.ParseSweep("tp.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rep, err := RunSweep(context.Background(), sw, SweepOptions{OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := min(DefaultParallel, lightPerCore*runtime.NumCPU()); rep.Parallel != want {
		t.Errorf("%d points of bulk behind 10 and 40 Mbit/s at once by default, want %d (a rate that small is a light load)", rep.Parallel, want)
	}
	if len(rep.Points) != 2 || rep.Points[0].Path == nil || rep.Points[1].Path == nil {
		t.Fatalf("points %+v", rep.Points)
	}
	slow, fast := rep.Points[0].Path.GoodputBits, rep.Points[1].Path.GoodputBits
	if slow < 7e6 || slow > 10.5e6 || fast < 3*slow {
		t.Errorf("goodput %.1f and %.1f Mbit/s at 10 and 40 Mbit/s", slow/1e6, fast/1e6)
	}
	txt, _ := os.ReadFile(filepath.Join(dir, record.FileSweepText))
	md, _ := os.ReadFile(filepath.Join(dir, record.FileSweepMD))
	if !strings.Contains(string(txt), "goodput") || strings.Contains(string(txt), "detected never") || !strings.Contains(string(md), "| goodput |") {
		t.Errorf("sweep.txt / sweep.md without the throughput figures:\n%s\n%s", txt, md)
	}
}

// TestSampling1msUnderBulk: both ends of one bulk connection sampled every
// millisecond keep their ticks (67% of them before the samplers' clock was
// a timerfd on a real-time thread) and account for the ones they missed:
// each peer's ticks plus missed ticks cover the run.
func TestSampling1msUnderBulk(t *testing.T) {
	labtest.RequireRoot(t)
	src := `name: sample-1ms
duration: 3s
sample_interval: 1ms
window: 100ms
sender:
  rate: max
  message: { size: 64KiB }
receiver:
  read: { rate: max, size: 1MiB }
`
	res, _ := runSrc(t, "sample-1ms", src, RunOptions{})
	sum := res.Summary
	if sum.Trust == nil || sum.Trust.Coverage < 0.95 {
		t.Fatalf("1 ms sampling under bulk load: trust %+v, want 95%% of the ticks or more", sum.Trust)
	}
	for _, p := range sum.Peers {
		st := p.Stats
		if st == nil || st.SampleTicks == 0 {
			t.Fatalf("%s: no sampler account: %+v", p.Side, st)
		}
		all := st.SampleTicks + st.SampleTicksMissed
		if all < 2700 || all > 3100 {
			t.Errorf("%s: %d ticks + %d missed over a 3 s run at 1 ms", p.Side, st.SampleTicks, st.SampleTicksMissed)
		}
		if st.SampleTicksMissed > 0 && !st.SampleRealtime {
			t.Errorf("%s: ticks missed, yet the sampler thread did not go to real-time priority (root)", p.Side)
		}
		// The sampler thread's own CPU: some (3,000 dumps), and well under
		// the run's 3 s of a core.
		if st.SampleCPUS <= 0 || st.SampleCPUS > 1.5 {
			t.Errorf("%s: the sampler thread's CPU %.3f s over a 3 s run at 1 ms", p.Side, st.SampleCPUS)
		}
		t.Logf("%s: %d ticks, %d missed, sampler CPU %.3f s; coverage %.3f, largest gap %.1f ms", p.Side, st.SampleTicks, st.SampleTicksMissed, st.SampleCPUS, sum.Trust.Coverage, sum.Trust.LargestGapMs)
	}
	if txt, _ := os.ReadFile(filepath.Join(res.Dir, record.FileText)); !strings.Contains(string(txt), "the sampler threads ") {
		t.Errorf("report.txt's lab health does not say the samplers' CPU:\n%s", txt)
	}
	txt, err := os.ReadFile(filepath.Join(res.Dir, record.FileText))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(txt), "sampler ticks missed sender ") {
		t.Errorf("report.txt's lab health does not say the missed ticks:\n%s", txt)
	}
}

// TestFanout5000Coverage (TCPLAB_LONG=1, .ci/run's long step): 5,000
// clients at the sampling budget's interval (500 ms) are sampled on both
// ends at 99% of the ticks, one sock_diag dump per tick per end (2,000 at
// 10 ms got 10% before; that is refused now, see scenario's TestMalformed).
func TestFanout5000Coverage(t *testing.T) {
	labtest.RequireRoot(t)
	if os.Getenv("TCPLAB_LONG") != "1" {
		t.Skip("about 20 s of a saturated host: set TCPLAB_LONG=1 (.ci/run's long step runs it)")
	}
	src := `name: fanout-5000
duration: 5s
sample_interval: 500ms
window: 1s
sender:
  listen: true
  rate: 80kbit
  message: { size: 1KiB }
receiver:
  clients: 5000
`
	// The feed itself saturates both cores (PSI 82–93%), so a neighbour's
	// burst on this shared host can cost a run a few percent (one of eight
	// idle runs here: 95.7%, and the trust line said so): a second run
	// must then reach the goal.
	var sum report.Summary
	for attempt := 1; attempt <= 2; attempt++ {
		res, _ := runSrc(t, "fanout-5000", src, RunOptions{})
		sum = res.Summary
		if len(sum.Connections) != 5000 {
			t.Fatalf("%d connections, want 5000", len(sum.Connections))
		}
		if sum.Trust != nil && sum.Trust.Coverage >= 0.99 {
			break
		}
		t.Logf("attempt %d: trust %+v", attempt, sum.Trust)
	}
	if sum.Trust == nil || sum.Trust.Coverage < 0.99 {
		t.Fatalf("5,000 clients at 500 ms, twice: trust %+v, want 99%% of the ticks", sum.Trust)
	}
	t.Logf("coverage %.4f, largest gap %.0f ms, trust %s", sum.Trust.Coverage, sum.Trust.LargestGapMs, sum.Trust.Level)
}

// TestBulkSweepAtDefaultParallel (TCPLAB_LONG=1, .ci/run's long step, about
// 90 s on 2 cores) is the 32-point bulk sweep — loss × delay ×
// congestion control, no rate — at the default --parallel: no point comes
// out distorted (16 at once distorted them; a distorted point runs again
// alone). Its time against the points' sum over the cores is a figure for
// the notes (goal 1.5×; measured 1.02× at 2 at once), logged, not asserted.
func TestBulkSweepAtDefaultParallel(t *testing.T) {
	labtest.RequireRoot(t)
	if os.Getenv("TCPLAB_LONG") != "1" {
		t.Skip("about 90 s of a saturated host: set TCPLAB_LONG=1 (.ci/run's long step runs it)")
	}
	src := `name: bulk-sweep-32
duration: 5s
link:
  both: { delay: 5ms, loss: 0% }
sender:
  rate: max
  message: { size: 64KiB }
  socket: { congestion: cubic }
receiver:
  read: { rate: max, size: 1MiB }
matrix:
  link.both.loss: [0%, 0.1%, 1%, 2%]
  link.both.delay: [2ms, 5ms, 10ms, 25ms]
  sender.socket.congestion: [cubic, bbr]
`
	sw, err := scenario.ParseSweep("bulk-sweep-32.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunSweep(context.Background(), sw, SweepOptions{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	levels := map[report.TrustLevel]int{}
	for _, p := range rep.Points {
		sum += p.WallS
		levels[p.Trust]++
		if p.Trust == report.TrustDistorted {
			t.Errorf("%s %v: distorted (rerun %v)", p.ID, p.Values, p.Rerun)
		}
	}
	ideal := sum / float64(runtime.NumCPU())
	t.Logf("32 points, %d at once: %.1f s wall, the points' sum over the cores %.1f s: %.2fx (goal 1.5x); trust %v",
		rep.Parallel, rep.WallS, ideal, rep.WallS/ideal, levels)
}

// TestTraceDrivenLink: a bulk sender over a link whose down direction
// follows a square-wave trace (20 ↔ 2 Mbit/s every 2 s, mahimahi's format,
// a file beside the scenario) gets, second by second, the trace's rate
// within 5% (the receiver's bytes per second), and auto picks the
// userspace link for it; backend netem is refused with the reason.
func TestTraceDrivenLink(t *testing.T) {
	labtest.RequireRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "square.down"), []byte(labtest.SquareTrace(20, 2, 2*time.Second)), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `name: trace-square
duration: 8s
link:
  down: { trace: square.down, delay: 10ms, queue: 100 }
  up: { delay: 10ms }
sender:
  message: { size: 16KiB }
`
	file := filepath.Join(dir, "trace-square.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := scenario.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if b, why, _ := chooseBackend(s); b != "userspace" {
		t.Fatalf("backend %s (%s), want userspace for a trace", b, why)
	}
	ns := *s
	ns.Link.Backend = "netem"
	if _, _, err := chooseBackend(&ns); err == nil || !strings.Contains(err.Error(), "userspace link only") {
		t.Errorf("backend netem with a trace: %v", err)
	}
	res, err := Run(context.Background(), s, RunOptions{OutDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := labtest.ReadRecorded(t, res.Dir)
	// The receiver's bytes received at each second's edge of the trace,
	// which reach it 10 ms (the down delay) later: the sample nearest it.
	const lag = 10e6
	at := map[int64]uint64{}
	for _, x := range samples {
		if x.Side != "receiver" {
			continue
		}
		sec := (x.T - lag + 5e6) / 1e9
		if d := x.T - lag - sec*1e9; d > -5e6 && d < 5e6 {
			at[sec] = x.Info.BytesReceived
		}
	}
	for sec := int64(1); sec < 8; sec++ {
		a, okA := at[sec]
		b, okB := at[sec+1]
		if !okA || !okB {
			continue
		}
		want := 20e6
		if sec%4 >= 2 {
			want = 2e6
		}
		got := float64(b-a) * 8
		// The goodput is the trace's rate less the TCP/IP headers (52 of
		// each 1500 bytes: 3.5%).
		want *= 1448.0 / 1500
		t.Logf("second %d: %.2f Mbit/s received, the trace's goodput %.2f", sec, got/1e6, want/1e6)
		if sec == 4 || sec == 8 {
			continue // the rate rises: TCP needs a few RTTs to fill it again
		}
		if got < 0.95*want || got > 1.05*want {
			t.Errorf("second %d: %.2f Mbit/s, the trace gives %.2f", sec, got/1e6, want/1e6)
		}
	}
}
