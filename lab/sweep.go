package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// DefaultParallel bounds the points of a sweep running at once by default
// when they are light (timer-bound: they mostly sleep, waiting for
// keepalives and timeouts), at lightPerCore per core.
const (
	DefaultParallel = 16
	lightPerCore    = 8
)

// defaultParallel is how many of the points run at once when --parallel
// is not given: as many as the cores hold by the heaviest point's expected
// load (pointLoad), at most DefaultParallel. Measured on 2 cores, a
// 32-point bulk sweep (loss × delay × congestion control, no rate): 2 at
// once took 86 s (1.02× the points' sum over the cores) with no point
// distorted and 5 doubtful (link lateness p99 5–11 ms), 1 at once 170 s
// with 6 doubtful; 16 at once distorted them (lateness p99 29 ms, base
// RTTs off, bulk called sender-limited).
func defaultParallel(points []*scenario.SweepPoint) int {
	cores := float64(runtime.NumCPU())
	load := 1.0 / lightPerCore
	for _, p := range points {
		load = max(load, pointLoad(p.Scenario))
	}
	return max(1, min(DefaultParallel, int(cores/load+1e-9)))
}

// bulkBitsPerCore is the bulk rate one core carries through a userspace
// link with both peers' stacks (4–5 Gbit/s kept both cores of this host
// busy).
const bulkBitsPerCore = 2e9

// pointLoad is the share of a core a point is expected to keep busy for its
// whole run: a bulk sender (or a program, or HTTP back to back) a whole core
// unless a link rate bounds it — then its rate's share of bulkBitsPerCore —
// and a point that mostly waits for timers 1/lightPerCore.
func pointLoad(s *scenario.Scenario) float64 {
	light := 1.0 / lightPerCore
	if !heavy(s) {
		return light
	}
	if s.Sender.Exec != nil || s.Receiver.Exec != nil || s.Sender.HTTP != nil {
		return 1 // a program's load is unknown; HTTP back to back is per request
	}
	down, _ := s.Link.Impairments() // the feed flows sender → receiver
	if down.RateBits == 0 {
		return 1
	}
	return max(light, min(1, float64(down.RateBits)/bulkBitsPerCore))
}

// heavy says whether a point keeps CPUs busy for its whole run.
func heavy(s *scenario.Scenario) bool {
	switch {
	case s.Sender.Exec != nil || s.Receiver.Exec != nil:
		return true
	case s.Sender.HTTP != nil:
		return s.Sender.HTTP.Interval == nil || *s.Sender.HTTP.Interval == 0
	}
	for _, ph := range s.Sender.Schedule {
		if ph.Rate != nil && ph.Rate.IsMax() || ph.Replay != nil && ph.Replay.IsMax() {
			return true
		}
	}
	return len(s.Sender.Schedule) == 0 && (s.Sender.Rate == nil || *s.Sender.Rate == 0)
}

// SweepOptions tune a sweep.
type SweepOptions struct {
	// OutDir is the sweep's directory; each point runs in OutDir/<id>.
	OutDir string
	// Parallel bounds the points running at once (0: from the cores and
	// the points' load, defaultParallel).
	Parallel int
	// Shard, Shards: run only the points with index % Shards == Shard-1
	// (1-based, as --shard i/n).
	Shard, Shards int
	// Exe is the binary run once per point (it must call MaybeRunPoint);
	// empty means this executable. Progress gets a line per finished point.
	Exe      string
	Progress func(format string, a ...any)
}

// ParseShard reads "i/n" (1 ≤ i ≤ n).
func ParseShard(s string) (i, n int, err error) {
	if s == "auto" {
		return ShardFromEnv(os.Getenv)
	}
	a, b, ok := strings.Cut(s, "/")
	i, e1 := strconv.Atoi(a)
	n, e2 := strconv.Atoi(b)
	if !ok || e1 != nil || e2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("shard %q: write i/n with 1 ≤ i ≤ n, like 2/4", s)
	}
	return i, n, nil
}

// The environment --shard auto reads.
const (
	// EnvK8sIndex is a Kubernetes Indexed Job's completion index (0-based),
	// set in every pod of the Job.
	EnvK8sIndex = "JOB_COMPLETION_INDEX"
	// EnvShardIndex is a shard's index (0-based) set by hand, e.g. from
	// GitHub Actions' strategy.job-index.
	EnvShardIndex = "TCPLAB_SHARD_INDEX"
	// EnvShards is the number of shards (the Job's completions, GitHub
	// Actions' strategy.job-total).
	EnvShards = "TCPLAB_SHARDS"
)

// ShardFromEnv is --shard auto: the shard index from a Kubernetes Indexed
// Job's JOB_COMPLETION_INDEX, or TCPLAB_SHARD_INDEX (both 0-based), of
// TCPLAB_SHARDS shards; it returns i/n with i 1-based, as --shard i/n.
func ShardFromEnv(getenv func(string) string) (i, n int, err error) {
	idx, from := getenv(EnvK8sIndex), EnvK8sIndex
	if idx == "" {
		idx, from = getenv(EnvShardIndex), EnvShardIndex
	}
	if idx == "" {
		return 0, 0, fmt.Errorf("--shard auto: no shard index in the environment: %s (set in a Kubernetes Indexed Job's pods) or %s (0-based, like GitHub Actions' strategy.job-index), with %s (the number of shards)", EnvK8sIndex, EnvShardIndex, EnvShards)
	}
	count := getenv(EnvShards)
	if count == "" {
		return 0, 0, fmt.Errorf("--shard auto: %s=%s, but %s (the number of shards: the Job's completions, or strategy.job-total) is not set", from, idx, EnvShards)
	}
	k, e1 := strconv.Atoi(idx)
	n, e2 := strconv.Atoi(count)
	if e1 != nil || e2 != nil || n < 1 || k < 0 || k >= n {
		return 0, 0, fmt.Errorf("--shard auto: %s=%q of %s=%q: want a whole index 0..n-1 of n ≥ 1 shards", from, idx, EnvShards, count)
	}
	return k + 1, n, nil
}

// ShardPoints are the indexes of the points shard i of n runs (1 ≤ i ≤ n):
// every n-th, from i-1.
func ShardPoints(total, i, n int) []int {
	var out []int
	for k := 0; k < total; k++ {
		if k%n == i-1 {
			out = append(out, k)
		}
	}
	return out
}

// RunSweep runs the sweep's points (or one shard of them) in parallel, each
// in its own lab and run directory, and writes the sweep report. It returns
// the report also when points failed; the error then says which.
func RunSweep(ctx context.Context, sw *scenario.Sweep, opts SweepOptions) (*report.SweepReport, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = defaultParallel(sw.Points)
	}
	if opts.Shards == 0 {
		opts.Shard, opts.Shards = 1, 1
	}
	rd, err := record.Create(opts.OutDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer rd.Close()
	exe := opts.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("%w: find own executable for the points: %v", ErrSetup, err)
		}
	}
	name := strings.TrimSuffix(filepath.Base(sw.File), filepath.Ext(sw.File))
	rep := &report.SweepReport{Schema: report.SweepSchemaVersion, Scenario: name, Keys: sw.Keys,
		StartedAt: time.Now().UTC().Format(time.RFC3339Nano), Parallel: opts.Parallel, Total: len(sw.Points)}
	if rep.Keys == nil {
		rep.Keys = []string{}
	}
	if opts.Shards > 1 {
		rep.Shard = fmt.Sprintf("%d/%d", opts.Shard, opts.Shards)
	}
	var points []*scenario.SweepPoint
	for _, k := range ShardPoints(len(sw.Points), opts.Shard, opts.Shards) {
		points = append(points, sw.Points[k])
	}
	rows := make([]report.SweepRow, len(points))
	done := make([]bool, len(points))
	errs := make([]error, len(points))
	// sweep.json is rewritten as each point ends (Running), so a sweep
	// killed midway keeps what it measured.
	var repMu sync.Mutex
	t0 := time.Now()
	progress := func() {
		repMu.Lock()
		defer repMu.Unlock()
		part := *rep
		part.Running, part.WallS, part.Points = true, time.Since(t0).Seconds(), []report.SweepRow{}
		for i, d := range done {
			if d {
				part.Points = append(part.Points, rows[i])
				part.LongestPointS = max(part.LongestPointS, rows[i].WallS)
			}
		}
		writeSweepJSON(rd, &part)
	}
	progress()
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i, p := range points {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rows[i] = report.SweepRow{ID: p.ID, Values: p.Values, Stopped: "not run: " + context.Cause(ctx).Error(), Sides: []report.SideDetection{}}
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			row, err := runRow(ctx, exe, p, rd)
			errs[i] = err
			repMu.Lock()
			rows[i], done[i] = row, true
			repMu.Unlock()
			progress()
			if opts.Progress != nil {
				opts.Progress("%s %s: %s", p.ID, p.Label(sw.Keys), row.Stopped)
			}
		}()
	}
	wg.Wait()
	// A point the lab distorted (too much at once for this host) runs
	// again alone, once, before it counts; its first run is kept beside.
	for i, p := range points {
		if rows[i].Trust != report.TrustDistorted || ctx.Err() != nil {
			continue
		}
		if err := rd.Rename(p.ID, p.ID+".distorted"); err != nil {
			errs[i] = errors.Join(errs[i], err)
			continue
		}
		row, err := runRow(ctx, exe, p, rd)
		row.Rerun = true
		rows[i], errs[i] = row, err
		progress()
		if opts.Progress != nil {
			opts.Progress("%s %s: %s (run again alone: the first run was distorted)", p.ID, p.Label(sw.Keys), row.Stopped)
		}
	}
	rep.WallS = time.Since(t0).Seconds()
	rep.Points = rows
	for _, r := range rows {
		rep.LongestPointS = max(rep.LongestPointS, r.WallS)
	}
	if err := writeSweep(rd, rep); err != nil {
		return rep, err
	}
	return rep, errors.Join(errs...)
}

// runRow runs one point into its directory and makes its row.
func runRow(ctx context.Context, exe string, p *scenario.SweepPoint, rd *record.Dir) (report.SweepRow, error) {
	dir := rd.Join(p.ID)
	start := time.Now()
	sum, err := runPoint(ctx, exe, p, rd)
	row := report.SweepRow{ID: p.ID, Values: p.Values, Dir: dir, WallS: time.Since(start).Seconds(), Sides: []report.SideDetection{}}
	if err != nil {
		row.Error = err.Error()
		err = fmt.Errorf("point %s: %w", p.ID, err)
	}
	if sum != nil {
		fillRow(&row, p.Scenario, dir, sum)
	} else {
		row.Stopped = "failed: " + row.Error
	}
	return row, err
}

// writeSweepJSON writes sweep.json.
func writeSweepJSON(rd *record.Dir, rep *report.SweepReport) error {
	b, err := report.MarshalSweepJSON(rep)
	if err != nil {
		return err
	}
	return rd.WriteFile(record.FileSweep, b)
}

func writeSweep(rd *record.Dir, rep *report.SweepReport) error {
	if err := writeSweepJSON(rd, rep); err != nil {
		return err
	}
	var txt, md, page strings.Builder
	if err := report.WriteSweepText(&txt, rep); err != nil {
		return err
	}
	if err := report.WriteSweepMarkdown(&md, rep); err != nil {
		return err
	}
	if err := report.WriteSweepHTML(&page, rep); err != nil {
		return err
	}
	return errors.Join(rd.WriteFile(record.FileSweepText, []byte(txt.String())),
		rd.WriteFile(record.FileSweepMD, []byte(md.String())),
		rd.WriteFile(record.FileSweepHTML, []byte(page.String())))
}

// MergeSweeps combines the sweep.json of shards into one report, points in
// matrix order.
func MergeSweeps(paths []string) (*report.SweepReport, error) {
	var out *report.SweepReport
	seen := map[string]bool{}
	for _, p := range paths {
		r, err := readSweepJSON(p)
		if err != nil {
			return nil, err
		}
		if r.Running {
			return nil, fmt.Errorf("%s is the sweep.json of a sweep that did not finish (killed or still running): run its shard again", p)
		}
		if out == nil {
			c := *r
			c.Points, c.Shard = nil, ""
			out = &c
		} else if r.Scenario != out.Scenario || strings.Join(r.Keys, ",") != strings.Join(out.Keys, ",") || r.Total != out.Total {
			return nil, fmt.Errorf("%s is a shard of another sweep (%s over %v, %d points) than %s (%s over %v, %d points)", p, r.Scenario, r.Keys, r.Total, paths[0], out.Scenario, out.Keys, out.Total)
		}
		out.WallS = max(out.WallS, r.WallS)
		out.LongestPointS = max(out.LongestPointS, r.LongestPointS)
		for _, row := range r.Points {
			if seen[row.ID] {
				return nil, fmt.Errorf("point %s appears in more than one shard", row.ID)
			}
			seen[row.ID] = true
			out.Points = append(out.Points, row)
		}
	}
	if out == nil {
		return nil, errors.New("no shards given")
	}
	sort.Slice(out.Points, func(i, j int) bool { return out.Points[i].ID < out.Points[j].ID })
	return out, nil
}

// readSweepJSON reads a sweep.json, or the one in a sweep directory.
func readSweepJSON(p string) (*report.SweepReport, error) {
	dir, name := filepath.Dir(p), filepath.Base(p)
	if st, err := os.Lstat(p); err == nil && st.IsDir() {
		dir, name = p, record.FileSweep
	}
	rd, err := record.Open(dir)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	b, err := rd.ReadFile(name, maxJSONSize)
	if err != nil {
		return nil, err
	}
	return report.DecodeSweepJSON(b, rd.Join(name))
}

// WriteMergedSweep writes a merged sweep report into dir (new or empty).
func WriteMergedSweep(dir string, rep *report.SweepReport) error {
	rd, err := record.Create(dir)
	if err != nil {
		return err
	}
	defer rd.Close()
	return writeSweep(rd, rep)
}

// fillRow puts a point's outcome and detection figures into its row (the
// rules are report.Detect's; the failure is resolved from the scenario).
func fillRow(row *report.SweepRow, s *scenario.Scenario, dir string, sum *report.Summary) {
	row.Stopped, row.Verdict, row.Passed = sum.Meta.Stopped, sum.Verdict.Class, sum.Passed() && row.Error == ""
	if sum.Trust != nil {
		row.Trust = sum.Trust.Level
		row.TrustReasons = sum.Trust.Reasons
	}
	path := sum.Path
	row.Path = &path
	samples, _ := record.ReadSamples(filepath.Join(dir, record.FileSamples))
	events, _ := record.ReadEvents(filepath.Join(dir, record.FileEvents))
	f := failureOf(s)
	report.Detect(row, &f, sum, samples, events)
}

// failureOf resolves how s makes its run fail, for report.Detect.
func failureOf(s *scenario.Scenario) record.Failure {
	f := record.Failure{
		Vanish:     s.Receiver.Vanish != nil,
		InTimeline: failureStart(s) != 0,
		Sockets: map[record.Side]record.SocketSettings{
			record.RoleSender:   socketSettings(s.Sender.Socket),
			record.RoleReceiver: socketSettings(s.Receiver.Socket),
		},
	}
	for _, e := range s.Timeline {
		if f.Partition == "" {
			f.Partition = e.Partition
		}
		if f.Reboot == "" {
			f.Reboot = record.Side(e.Reboot)
		}
		if f.Kill == "" && f.Freeze == "" {
			f.Kill, f.Freeze = record.Side(e.Kill), record.Side(e.Freeze)
		}
	}
	if n := s.Link.NAT; n != nil {
		f.NAT = &record.NATSettings{IdleTimeout: time.Duration(n.IdleTimeout), Expired: record.NATExpiry(n.Expired)}
	}
	return f
}

func socketSettings(so scenario.Socket) record.SocketSettings {
	var out record.SocketSettings
	if so.UserTimeout != nil {
		out.UserTimeout = time.Duration(*so.UserTimeout)
	}
	if k := so.Keepalive; k != nil {
		out.Keepalive = &record.KeepaliveSettings{Idle: time.Duration(k.Idle), Interval: time.Duration(k.Interval), Count: k.Count}
	}
	return out
}

// failureStart is when the peer or the path failed: the receiver's vanish,
// or the first partition of the timeline (0: none).
func failureStart(s *scenario.Scenario) time.Duration {
	var t time.Duration
	if s.Receiver.Vanish != nil {
		t = time.Duration(*s.Receiver.Vanish)
	}
	for _, e := range s.Timeline {
		if (e.Partition != "" || e.Reboot != "" || e.Kill != "" || e.Freeze != "") && (t == 0 || time.Duration(e.At) < t) {
			t = time.Duration(e.At)
		}
	}
	return t
}

// maxJSONSize bounds what is read of a sweep's or a point's JSON files.
const maxJSONSize = 16 << 20
