package scenario

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
)

// DefaultParallel is how many points of a sweep run at once by default:
// they mostly sleep (waiting for keepalives), so more than the cores.
const DefaultParallel = 16

// SweepOptions tune a sweep.
type SweepOptions struct {
	// OutDir is the sweep's directory; each point runs in OutDir/<id>.
	OutDir string
	// Parallel bounds the points running at once (0: DefaultParallel).
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
	a, b, ok := strings.Cut(s, "/")
	i, e1 := strconv.Atoi(a)
	n, e2 := strconv.Atoi(b)
	if !ok || e1 != nil || e2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("shard %q: write i/n with 1 ≤ i ≤ n, like 2/4", s)
	}
	return i, n, nil
}

// RunSweep runs the sweep's points (or one shard of them) in parallel, each
// in its own lab and run directory, and writes the sweep report. It returns
// the report also when points failed; the error then says which.
func RunSweep(ctx context.Context, sw *Sweep, opts SweepOptions) (*report.SweepReport, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
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
	var points []*SweepPoint
	for _, p := range sw.Points {
		if p.Index%opts.Shards == opts.Shard-1 {
			points = append(points, p)
		}
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
			dir := rd.Join(p.ID)
			start := time.Now()
			sum, err := runPoint(ctx, exe, p, rd)
			row := report.SweepRow{ID: p.ID, Values: p.Values, Dir: dir, WallS: time.Since(start).Seconds(), Sides: []report.SideDetection{}}
			if err != nil {
				row.Error = err.Error()
				errs[i] = fmt.Errorf("point %s: %w", p.ID, err)
			}
			if sum != nil {
				fillRow(&row, p.Scenario, dir, sum)
			} else {
				row.Stopped = "failed: " + row.Error
			}
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
	report.WriteSweepText(&txt, rep)
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
	b, err := rd.ReadFile(name, maxMetaSize)
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

// fillRow puts a point's detection figures into its row: when the failure
// began, when each side's connection ended after it and with what error,
// its probes, whether it was busy, and the kernel's rule for it.
func fillRow(row *report.SweepRow, s *Scenario, dir string, sum *report.Summary) {
	row.Stopped, row.Verdict, row.Passed = sum.Meta.Stopped, sum.Verdict.Class, sum.Passed() && row.Error == ""
	// The failure: a vanish, the timeline's first partition, reboot, kill or
	// freeze, or the NAT forgetting the connection (as the run recorded it).
	fail := time.Duration(sum.Meta.FailureS * 1e9)
	row.FailureS = sum.Meta.FailureS
	samples, _ := report.ReadSamples(filepath.Join(dir, record.FileSamples))
	events, _ := report.ReadEvents(filepath.Join(dir, record.FileEvents))
	firstT := math.Inf(1)
	for _, side := range []string{peers.RoleSender, peers.RoleReceiver} {
		if k, _ := killedSide(s); (side == peers.RoleReceiver && s.Receiver.Vanish != nil) || side == rebooted(s) || side == k {
			continue // the vanished or rebooted side is the failure, not a survivor
		}
		d := report.SideDetection{Side: side}
		for _, x := range sum.Disconnects {
			if x.Side == side && x.T >= row.FailureS && fail > 0 {
				d.DetectedS, d.Error = x.T-row.FailureS, x.Error
				if x.T < firstT {
					firstT, row.FirstNoticed = x.T, side
				}
				break
			}
		}
		var firstRTO time.Duration       // first sample after the failure showing an RTO backoff
		var firstSend time.Duration      // first sample after the failure with data unacknowledged
		var zeroSince time.Duration = -1 // start of the zero-window stretch the failure found
		var lastRecv time.Duration = -1  // when the last packet arrived (after the failure too, when one direction still carries it)
		zeroWindow := false
		for _, x := range samples {
			if x.Side != side {
				continue
			}
			t := time.Duration(x.T)
			zw := x.Info.Has("snd_wnd") && x.Info.SndWnd == 0 && x.Queues.Unsent > 0
			if fail == 0 {
				continue // no failure: nothing to be busy or idle at
			}
			if t < fail && t >= fail-100*time.Millisecond && x.Info.Unacked > 0 {
				d.Busy = true // data in flight at the failure
			}
			if t < fail {
				lastRecv = t - time.Duration(min(x.Info.LastAckRecv, x.Info.LastDataRecv))*time.Millisecond
				switch {
				case zw && zeroSince < 0:
					zeroSince = t
				case !zw:
					zeroSince = -1
				}
				continue
			}
			if r := t - time.Duration(min(x.Info.LastAckRecv, x.Info.LastDataRecv))*time.Millisecond; r > lastRecv && (d.DetectedS == 0 || t.Seconds() < row.FailureS+d.DetectedS) {
				lastRecv = r // a path cut one way still delivers the other way's retransmissions
			}
			d.Probes = max(d.Probes, int(x.Info.Probes))
			if t < fail+300*time.Millisecond && t >= fail+100*time.Millisecond {
				if x.Info.Unacked > 0 {
					d.Busy = true
				}
				if zw && zeroSince >= 0 {
					zeroWindow = true
				}
			}
			if firstRTO == 0 && x.Info.Backoff > 0 && x.Info.Probes == 0 {
				firstRTO = t - fail
			}
			if firstSend == 0 && x.Info.Unacked > 0 {
				firstSend = max(t-fail, time.Millisecond)
			}
		}
		so := s.Sender.Socket
		if side == peers.RoleReceiver {
			so = s.Receiver.Socket
		}
		// The NAT saw this side's first data after it forgot: exact, where a
		// sample may miss a send answered with an RST within a millisecond.
		for _, e := range events {
			if e.Kind == peers.EventMiddleboxRefused && e.Side == side && e.Detail == "data" && time.Duration(e.T) >= fail {
				firstSend = max(time.Duration(e.T)-fail, time.Millisecond)
				break
			}
		}
		// Keepalive counts from the last packet received, which may come
		// before the failure — or after it, when the path is cut one way
		// and retransmissions still arrive: shift the idle rules by it.
		var idleShift time.Duration
		if lastRecv >= 0 {
			idleShift = lastRecv - fail
		}
		if l := sum.Meta.Link; l != nil {
			c := l.Down.Counters
			if side == peers.RoleReceiver {
				c = l.Up.Counters
			}
			if c != nil {
				d.WireProbes = &report.WireProbes{Keepalive: c.KeepaliveProbes, Window: c.WindowProbes}
			}
		}
		_, how := killedSide(s)
		switch {
		case s.Link.NAT != nil && failureStart(s) == 0:
			var dataFirst bool
			d.ExpectedS, d.Rule, dataFirst = natDetection(so, s.Link.NAT, fail > 0, idleShift, firstSend, firstRTO)
			d.Busy = dataFirst
		case how == "kill":
			d.ExpectedS, d.Rule = 0.05, "peer killed: its kernel closes the connection (FIN, or RST with unread data) at once"
		case how == "freeze":
			d.ExpectedS, d.Rule = 0, "peer frozen: its kernel still answers; only a user_timeout behind its closed window ends the connection"
		case rebooted(s) != "":
			d.ExpectedS, d.Rule = rebootDetection(so, d.Busy, zeroWindow, idleShift)
		case zeroWindow:
			d.ExpectedS, d.Rule = zeroWindowDetection(so, zeroSince-fail)
		default:
			d.ExpectedS, d.Rule = expectedDetection(so, d.Busy, firstRTO, idleShift)
			// An idle side with keepalive gives up by a keepalive abort,
			// which sends an RST (peerReset).
			d.KeepaliveAbort = !d.Busy && so.Keepalive != nil
		}
		row.Sides = append(row.Sides, d)
	}
	peerReset(row, s)
}

// peerReset applies the one rule that crosses sides: a keepalive abort
// sends an RST (a retransmission or user-timeout abort does not). When the
// path is cut one way only and the direction from the aborting side to its
// peer is still open, the peer learns of the failure from that RST, at the
// aborting side's time, if that comes before its own rule.
func peerReset(row *report.SweepRow, s *Scenario) {
	if len(row.Sides) != 2 || s.Receiver.Vanish != nil || rebooted(s) != "" {
		return
	}
	part := ""
	for _, e := range s.Timeline {
		if e.Partition != "" {
			part = e.Partition
			break
		}
	}
	// open[x] says whether packets from side x still reach the other side.
	open := map[string]bool{peers.RoleSender: part == "up", peers.RoleReceiver: part == "down"}
	for i := range row.Sides {
		me, peer := &row.Sides[i], &row.Sides[1-i]
		if !open[peer.Side] || !peer.KeepaliveAbort || peer.ExpectedS == 0 {
			continue
		}
		if me.ExpectedS == 0 || peer.ExpectedS < me.ExpectedS {
			me.ExpectedS = peer.ExpectedS
			me.Rule = "the " + peer.Side + "'s keepalive abort RST (" + part + " only is cut)"
		}
	}
}

// natDetection is the rule for a connection through a NAT that forgets it
// after idle_timeout without a packet. Keepalive probes sent more often than
// that keep it alive. Otherwise, after the NAT forgot, whichever comes first
// ends it: the first keepalive probe (idle after the last packet received,
// idleShift from the failure) meets a dropped path — the keepalive rule,
// idle + count × interval — or an RST; or the first data sent (firstSend
// after the failure) meets a dropped path — first RTO (firstRTO) +
// user_timeout, or tcp_retries2 without one — or an RST at once. A side that
// neither probes nor sends never notices. dataFirst says the data rule won.
func natDetection(so Socket, nat *NAT, forgot bool, idleShift, firstSend, firstRTO time.Duration) (at float64, rule string, dataFirst bool) {
	k := so.Keepalive
	timeout := time.Duration(nat.IdleTimeout)
	switch {
	case !forgot && k != nil && time.Duration(k.Idle) < timeout:
		return 0, fmt.Sprintf("kept alive: keepalive idle %v < nat idle_timeout %v", time.Duration(k.Idle), timeout), false
	case !forgot:
		return 0, "the nat did not forget the connection within the run", false
	}
	rule = "nat forgot the idle connection; no keepalive, nothing sent: never"
	take := func(t float64, r string, data bool) {
		if t > 0 && (at == 0 || t < at) {
			at, rule, dataFirst = t, r, data
		}
	}
	if k != nil {
		t, r := fromLastPacket(time.Duration(k.Idle).Seconds(), "nat forgot: RST to the first keepalive probe (idle)", idleShift)
		if nat.Expired != "rst" {
			t, r = expectedDetection(so, false, 0, idleShift)
			r = "nat forgot, probes dropped: " + strings.TrimPrefix(r, "idle: ")
		}
		take(max(0.001, t), r, false)
	}
	if firstSend > 0 {
		switch {
		case nat.Expired == "rst":
			take(firstSend.Seconds(), fmt.Sprintf("nat forgot: RST to the first data sent after (+%.2fs)", firstSend.Seconds()), true)
		case so.UserTimeout != nil && firstRTO > 0:
			take((firstRTO + time.Duration(*so.UserTimeout)).Seconds(), fmt.Sprintf("nat forgot, data dropped: first RTO (+%.2fs) + user_timeout", firstRTO.Seconds()), true)
		case at == 0:
			rule, dataFirst = "nat forgot, data dropped: tcp_retries2 (~15 min)", true
		}
	}
	return at, rule, dataFirst
}

// fromLastPacket moves a keepalive rule's time by idleShift — keepalive
// counts from the last packet received (before the failure, or after it
// when one direction still delivers), not from the failure — and says so.
func fromLastPacket(at float64, rule string, idleShift time.Duration) (float64, string) {
	at = max(0, at+idleShift.Seconds())
	if idleShift < -50*time.Millisecond || idleShift > 50*time.Millisecond {
		rule += fmt.Sprintf(", from the last packet received (%+.2fs)", idleShift.Seconds())
	}
	return at, rule
}

// rebootDetection is the rule when the peer rebooted: its new kernel
// answers the next packet with an RST. A busy side sends at once (its next
// data or retransmission: within an RTO); an idle side with keepalive
// learns at its first probe, idle after the last packet it received; an
// idle side without keepalive never sends, so never learns.
func rebootDetection(so Socket, busy, zeroWindow bool, idleShift time.Duration) (float64, string) {
	switch {
	case busy:
		return 0.2, "peer rebooted: RST to the next retransmission (within an RTO)"
	case zeroWindow:
		return 0.2, "peer rebooted: RST to the next persist probe"
	case so.Keepalive != nil:
		return fromLastPacket(time.Duration(so.Keepalive.Idle).Seconds(), "peer rebooted: RST to the first keepalive probe (idle)", idleShift)
	}
	return 0, "peer rebooted, idle, no keepalive: never"
}

// zeroWindowDetection is the rule for a side with data waiting behind its
// peer's zero window since zeroSince (relative to the failure, negative
// when it began before): the persist timer probes the window, and — measured
// on 6.x kernels — TCP_USER_TIMEOUT counts from the first persist probe of
// the stretch, answered or not (an answered probe does not move snd_una),
// so the abort comes at the first probe past zeroSince + user_timeout: also
// when the peer is alive and only slow. Without a user timeout the persist
// timer gives up after tcp_retries2 unanswered probes (minutes).
func zeroWindowDetection(so Socket, zeroSince time.Duration) (float64, string) {
	if so.UserTimeout == nil {
		return 0, "zero window: persist probes up to tcp_retries2 (minutes)"
	}
	ut := time.Duration(*so.UserTimeout)
	return max(0, (zeroSince + ut).Seconds()), fmt.Sprintf("zero window since %+.2fs: user_timeout from its first persist probe", zeroSince.Seconds())
}

// failureStart is when the peer or the path failed: the receiver's vanish,
// or the first partition of the timeline (0: none).
func failureStart(s *Scenario) time.Duration {
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

// rebooted is the side that reboots in the timeline ("" if none).
func rebooted(s *Scenario) string {
	for _, e := range s.Timeline {
		if e.Reboot != "" {
			return e.Reboot
		}
	}
	return ""
}

// killedSide is the side whose process the timeline kills or freezes ("" if none).
func killedSide(s *Scenario) (side, how string) {
	for _, e := range s.Timeline {
		if e.Kill != "" {
			return e.Kill, "kill"
		}
		if e.Freeze != "" {
			return e.Freeze, "freeze"
		}
	}
	return "", ""
}

// expectedDetection is the kernel's rule for how long after its peer went
// dark a socket notices, from its settings and whether it had unacked data:
//
//   - busy (data unacknowledged): TCP_USER_TIMEOUT if set, counted from the
//     first RTO retransmission (firstRTO after the failure, as sampled).
//     Measured here: while new data keeps going out behind a pending tail
//     loss probe, each send re-arms the RTO timer, so the first RTO comes
//     ~0.75 s after the cut, not 0.2 s, and the abort user_timeout after it.
//     Without a user timeout tcp_retries2 (15 backed-off RTOs: about 15
//     minutes), which no short run sees;
//   - idle with keepalive: the first probe after idle, then one every
//     interval; the connection fails after count unanswered probes
//     (idle + count × interval), or with TCP_USER_TIMEOUT set, at the first
//     probe time (at least one probe out) at which user_timeout has passed;
//   - idle without keepalive: never.
func expectedDetection(so Socket, busy bool, firstRTO, idleShift time.Duration) (float64, string) {
	var ut time.Duration
	if so.UserTimeout != nil {
		ut = time.Duration(*so.UserTimeout)
	}
	if busy {
		if ut > 0 {
			return (firstRTO + ut).Seconds(), fmt.Sprintf("busy: first RTO (+%.2fs) + user_timeout", firstRTO.Seconds())
		}
		return 0, "busy: tcp_retries2 (~15 min)"
	}
	k := so.Keepalive
	if k == nil {
		return 0, "idle, no keepalive: never"
	}
	idle, intv := time.Duration(k.Idle), time.Duration(k.Interval)
	if ut > 0 {
		for n := 1; ; n++ {
			if t := idle + time.Duration(n)*intv; t >= ut {
				return fromLastPacket(t.Seconds(), "idle: keepalive with user_timeout", idleShift)
			}
		}
	}
	return fromLastPacket((idle + time.Duration(k.Count)*intv).Seconds(), "idle: keepalive idle + count × interval", idleShift)
}
