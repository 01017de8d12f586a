package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/tcpinfo"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Target is what a watch picks: the established TCP sockets of one network
// namespace, kept when they match every filter given.
type Target struct {
	// NetNS is the namespace: a name under /run/netns (ip netns), or a
	// path such as a container's /proc/PID/ns/net. Empty: the process's
	// namespace when PID is set, else tcplab's own.
	NetNS string
	// PID keeps the sockets this process holds open (0: any).
	PID int
	// Ports keeps sockets with one of these ports, local or remote.
	Ports []uint16
	// Prefixes keeps sockets whose local or remote address is in one.
	Prefixes []netip.Prefix
}

// String is the target in the words of the command line.
func (t Target) String() string {
	var parts []string
	if t.NetNS != "" {
		parts = append(parts, "netns "+t.NetNS)
	}
	if t.PID > 0 {
		parts = append(parts, "pid "+strconv.Itoa(t.PID))
	}
	for _, p := range t.Ports {
		parts = append(parts, "port "+strconv.Itoa(int(p)))
	}
	for _, p := range t.Prefixes {
		parts = append(parts, "addr "+p.String())
	}
	if len(parts) == 0 {
		return "every connection of tcplab's own namespace"
	}
	return strings.Join(parts, ", ")
}

// Options are a watch's settings.
type Options struct {
	Target
	// Interval is the sampling interval; Window the classification window.
	Interval, Window time.Duration
	// For ends the watch after this long (0: when ctx ends).
	For time.Duration
	// Out, when set, is the run directory to record into (new or empty).
	Out string
	// Live, when set, gets the live view: a table redrawn in place when
	// Terminal, else a line per connection and window.
	Live     io.Writer
	Terminal bool
}

// Defaults fills the intervals left zero.
func (o *Options) Defaults() {
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = time.Second
	}
}

// Bounds on a watch's settings.
const (
	MinInterval = time.Millisecond
	// MaxConns bounds the connections followed at once: beyond it new
	// ones are counted, not followed.
	MaxConns = 10000
	// recentWindows is how many windows of classes the live view keeps.
	recentWindows = 10
	// maxKeep bounds the samples kept of one connection (a window's).
	maxKeep = 10000
)

// Validate checks the settings, naming the flag at fault.
func (o *Options) Validate() error {
	switch {
	case o.Interval < MinInterval:
		return fmt.Errorf("--interval %v: at least %v", o.Interval, MinInterval)
	case o.Window < 2*o.Interval:
		return fmt.Errorf("--window %v: at least two sampling intervals (%v)", o.Window, 2*o.Interval)
	case int64(o.Window)/int64(o.Interval) > maxKeep-3:
		return fmt.Errorf("--window %v: at most %d sampling intervals (%v)", o.Window, maxKeep-3, time.Duration(maxKeep-3)*o.Interval)
	case o.For < 0:
		return fmt.Errorf("--for %v: a duration of 0 (until interrupted) or more", o.For)
	case o.PID < 0:
		return fmt.Errorf("--pid %d: a process id", o.PID)
	}
	return nil
}

// Watcher samples a target until stopped. Make one with Open; Run samples.
type Watcher struct {
	opts      Options
	nsPath    string
	diag      *tcpinfo.DiagConn
	destroyed *tcpinfo.DestroyWatch
	start     int64 // Monotonic at t = 0
	startedAt time.Time

	mu      sync.Mutex // conns, gone, over (the exporter reads them)
	conns   map[uint64]*conn
	gone    []*conn // closed, shown a while longer
	next    int
	over    int // connections not followed (MaxConns)
	skipped map[uint64]skip

	pid   *pidSockets
	gen   uint32
	lines []byte
	out   *record.Dir
	file  *os.File
	werr  error
	ticks uint64
	missd uint64
	drawn int // lines of the live table on the terminal
	// createdDir: Out did not exist before the watch made it.
	createdDir bool
	scratch    tcpinfo.Sample // the sample being made (kept off the heap)
}

// skip is a socket the target does not pick: when it was last seen, and
// the round from which to ask again (a socket accepted but not yet taken
// by the watched process has no descriptor there yet).
type skip struct{ seen, retry uint32 }

// conn is one watched connection (one socket: its end on this host).
type conn struct {
	id            int
	local, remote string
	ring          []tcpinfo.Sample // the last window's samples, from head on
	head, n       int
	inOrder       []tcpinfo.Sample // ring, oldest first (made at each window)
	nextWindow    int64
	classes       [recentWindows]report.Class
	subs          [recentWindows]report.SubCause
	nclasses      int
	seconds       map[report.Class]float64
	closedAt      int64
	// seen is the last round whose dump of established sockets held it,
	// seenAt that round's time: missing from the latest round, it has left
	// ESTABLISHED (an orphan flushing in FIN_WAIT, a close under way).
	seen     uint32
	seenAt   int64
	sending  bool
	rateBits float64
	rttMs    float64
	state    uint8
}

// Open prepares a watch: it opens the sock_diag sockets inside the
// target's namespace and, with Out, creates the run directory. Close
// releases them.
func Open(opts Options) (*Watcher, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w := &Watcher{opts: opts, conns: map[uint64]*conn{}, skipped: map[uint64]skip{}}
	if opts.PID > 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", opts.PID)); err != nil {
			return nil, fmt.Errorf("--pid %d: no such process", opts.PID)
		}
		w.pid = &pidSockets{pid: opts.PID}
	}
	switch {
	case opts.NetNS != "" && strings.ContainsRune(opts.NetNS, '/'):
		w.nsPath = opts.NetNS
	case opts.NetNS != "":
		w.nsPath = filepath.Join("/run/netns", opts.NetNS)
	case opts.PID > 0:
		w.nsPath = fmt.Sprintf("/proc/%d/ns/net", opts.PID)
	}
	open := func() (err error) {
		fd, err := tcpinfo.OpenDiagSocket()
		if err != nil {
			return err
		}
		w.diag = tcpinfo.NewDiagConn(fd)
		if w.destroyed, err = tcpinfo.OpenDestroyWatch(); err != nil {
			w.diag.Close()
			w.diag = nil
		}
		return err
	}
	if w.nsPath != "" {
		h, err := netns.GetFromPath(w.nsPath)
		if err != nil {
			what := "--netns " + opts.NetNS
			if opts.NetNS == "" {
				what = fmt.Sprintf("--pid %d's network namespace", opts.PID)
			}
			return nil, fmt.Errorf("%s: open %s: %w (ip netns list names them; a container's is /proc/PID/ns/net)", what, w.nsPath, err)
		}
		defer h.Close()
		if err := netem.Do(h, open); err != nil {
			return nil, fmt.Errorf("watch %s: %w", w.nsPath, err)
		}
	} else if err := open(); err != nil {
		return nil, err
	}
	if opts.Out != "" {
		_, statErr := os.Lstat(opts.Out)
		w.createdDir = errors.Is(statErr, os.ErrNotExist)
		rd, err := record.Create(opts.Out)
		if err != nil {
			w.Close()
			return nil, err
		}
		w.out = rd
		if w.file, err = rd.Create(record.FileSamples); err == nil {
			err = rd.WriteFile(record.FileEvents, nil)
		}
		if err != nil {
			w.Close()
			if w.createdDir {
				os.RemoveAll(opts.Out)
			}
			return nil, err
		}
	}
	return w, nil
}

// Close releases the sockets and the run directory.
func (w *Watcher) Close() error {
	var errs []error
	if w.diag != nil {
		errs = append(errs, w.diag.Close())
		w.diag = nil
	}
	if w.destroyed != nil {
		errs = append(errs, w.destroyed.Close())
		w.destroyed = nil
	}
	if w.file != nil {
		errs = append(errs, w.file.Close())
		w.file = nil
	}
	if w.out != nil {
		errs = append(errs, w.out.Close())
		w.out = nil
	}
	return errors.Join(errs...)
}

// Result is how a watch ended.
type Result struct {
	// Stopped says why, in words; Seconds how long it watched.
	Stopped string
	Seconds float64
	// Connections were followed; Untracked were over MaxConns.
	Connections, Untracked int
	// Summary is the recorded run's report (nil without Out).
	Summary *report.Summary
}

// Run samples until ctx ends or For has passed (or the watched process
// exits), then, with Out, writes meta.json and every report format.
// Ending by ctx is the normal end of a watch, not a failure.
func (w *Watcher) Run(ctx context.Context) (*Result, error) {
	o := &w.opts
	w.startedAt = time.Now()
	w.start = tcpinfo.Monotonic()
	if w.out != nil {
		if err := record.WriteMeta(w.out, record.MetaFile{Meta: w.meta("", "", 0)}); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.For > 0 {
		runCtx, cancel = context.WithTimeout(ctx, o.For)
		defer cancel()
	}
	tk, err := tcpinfo.NewTicker(runCtx, int64(o.Interval))
	if err != nil {
		return nil, err
	}
	tk.KeepNormalPriority() // a live host's programs come first
	stopped := ""
	var runErr error
	lastDraw := int64(0)
	for {
		if err := w.once(); err != nil {
			if errors.Is(err, errProcessGone) {
				stopped = fmt.Sprintf("process %d exited", o.PID)
			} else {
				runErr, stopped = err, err.Error()
			}
			break
		}
		now := tcpinfo.Monotonic() - w.start
		if o.Live != nil && now-lastDraw >= int64(o.Window) {
			w.draw(now)
			lastDraw = now
		}
		missed, err := tk.Wait()
		w.missd += missed
		w.ticks += 1 + missed
		if err != nil {
			if !errors.Is(err, tcpinfo.ErrTickerStopped) {
				runErr, stopped = err, err.Error()
			}
			break
		}
	}
	tk.Close()
	if stopped == "" {
		stopped = fmt.Sprintf("watched for %v", o.For)
		if ctx.Err() != nil {
			stopped = "stopped by the watcher (" + context.Cause(ctx).Error() + ")"
		}
	}
	if o.Live != nil && o.Terminal {
		w.draw(tcpinfo.Monotonic() - w.start)
	}
	res := &Result{Stopped: stopped, Seconds: float64(tcpinfo.Monotonic()-w.start) / 1e9, Connections: w.next, Untracked: w.over}
	if w.out == nil {
		return res, runErr
	}
	if err := w.flush(); err != nil {
		return res, errors.Join(runErr, err)
	}
	end := record.EndCompleted
	if runErr != nil {
		end = record.EndFailed
	}
	m := record.MetaFile{Meta: w.meta(stopped, end, res.Seconds)}
	if err := record.WriteMeta(w.out, m); err != nil {
		return res, errors.Join(runErr, err)
	}
	dir := w.out.Path
	w.file.Close()
	w.file = nil
	if w.next == 0 {
		// Nothing to report: leave nothing behind either.
		for _, f := range []string{record.FileSamples, record.FileEvents, record.FileMeta} {
			os.Remove(filepath.Join(dir, f))
		}
		if w.createdDir {
			os.Remove(dir)
		}
		return res, errors.Join(runErr, fmt.Errorf("no connection matched %s in %v: nothing recorded (%s is not kept)", o.Target, time.Duration(res.Seconds*1e9).Round(time.Millisecond), dir))
	}
	sum, err := report.Rerender(dir, nil)
	res.Summary = sum
	return res, errors.Join(runErr, err)
}

func (w *Watcher) meta(stopped string, end record.EndKind, seconds float64) record.Meta {
	o := &w.opts
	return record.Meta{
		Scenario:        "watch",
		RunID:           "watch-" + w.startedAt.UTC().Format("20060102-150405"),
		SampleIntervalS: o.Interval.Seconds(),
		StartedAt:       w.startedAt.UTC().Format(time.RFC3339Nano),
		DurationS:       seconds,
		WindowS:         o.Window.Seconds(),
		Kernel:          netem.KernelRelease(),
		Stopped:         stopped,
		End:             end,
		Watch: &record.WatchRecord{
			Target: o.Target.String(), NetNS: w.nsPath, PID: o.PID,
			Connections: w.next, Untracked: w.over, Ticks: w.ticks, TicksMissed: w.missd,
		},
	}
}

var errProcessGone = errors.New("the watched process exited")

// once samples every matching socket once.
func (w *Watcher) once() error {
	now := tcpinfo.Monotonic() - w.start
	w.gen++
	gone := false
	if w.pid != nil {
		w.pid.rescanned = false
		gone = !w.pid.alive() // this round still takes its sockets' last samples
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.diag.Dump(tcpinfo.DiagFilter{States: tcpinfo.StateEstablished}, func(d *tcpinfo.DiagSocket) {
		w.sample(now, d, false)
	})
	if err != nil {
		return fmt.Errorf("sample %s: %w", w.opts.Target, err)
	}
	err = w.destroyed.Drain(func(d *tcpinfo.DiagSocket) {
		if d.Dst.Port() != 0 {
			w.sample(now, d, true)
		}
	})
	if err != nil {
		return fmt.Errorf("sample %s: %w", w.opts.Target, err)
	}
	if gone {
		return errProcessGone
	}
	if w.gen%128 == 0 {
		for k, sk := range w.skipped {
			if w.gen-sk.seen > 2 {
				delete(w.skipped, k)
			}
		}
	}
	if len(w.lines) >= 60<<10 {
		return w.flushLocked()
	}
	for i := 0; i < len(w.gone); i++ {
		if now-w.gone[i].closedAt > 3*int64(w.opts.Window) {
			w.gone = append(w.gone[:i], w.gone[i+1:]...)
			i--
		}
	}
	return nil
}

// pick is whether the target picks a socket.
type pick int

const (
	pickNo     pick = iota
	pickYes         // it matches
	pickNotYet      // not the process's (yet): ask again in pidRetryRounds
)

// pidRetryRounds is how many rounds a socket the watched process does
// not hold waits before it is asked about again.
const pidRetryRounds = 10

// matches says whether the target picks a socket.
func (w *Watcher) matches(d *tcpinfo.DiagSocket) pick {
	t := &w.opts.Target
	if len(t.Ports) > 0 {
		ok := false
		for _, p := range t.Ports {
			ok = ok || d.Src.Port() == p || d.Dst.Port() == p
		}
		if !ok {
			return pickNo
		}
	}
	if len(t.Prefixes) > 0 {
		ok := false
		for _, p := range t.Prefixes {
			ok = ok || p.Contains(d.Src.Addr().Unmap()) || p.Contains(d.Dst.Addr().Unmap())
		}
		if !ok {
			return pickNo
		}
	}
	if w.pid != nil && !w.pid.holds(d.Inode) {
		return pickNotYet
	}
	return pickYes
}

func (w *Watcher) sample(now int64, d *tcpinfo.DiagSocket, closing bool) {
	if !d.HasInfo {
		return
	}
	c := w.conns[d.Cookie]
	if c == nil {
		if sk, no := w.skipped[d.Cookie]; no && (sk.retry == 0 || w.gen < sk.retry) {
			sk.seen = w.gen
			w.skipped[d.Cookie] = sk
			return
		}
		if m := w.matches(d); m != pickYes {
			sk := skip{seen: w.gen}
			if m == pickNotYet {
				sk.retry = w.gen + pidRetryRounds
			}
			w.skipped[d.Cookie] = sk
			return
		}
		delete(w.skipped, d.Cookie)
		if closing {
			return // closed before it was ever seen
		}
		if len(w.conns) >= MaxConns {
			w.over++
			w.skipped[d.Cookie] = skip{seen: w.gen}
			return
		}
		// A window of samples, and a little more: what a window's class needs.
		keep := min(int(int64(w.opts.Window)/int64(w.opts.Interval))+3, maxKeep)
		c = &conn{id: w.next, local: d.Src.String(), remote: d.Dst.String(),
			nextWindow: now + int64(w.opts.Window), seconds: map[report.Class]float64{}}
		c.ring = make([]tcpinfo.Sample, keep)
		w.next++
		w.conns[d.Cookie] = c
	}
	if !closing {
		c.seen, c.seenAt = w.gen, now
	}
	s := &w.scratch
	*s = tcpinfo.Sample{}
	s.FromDiag(d)
	s.T, s.Side, s.Conn, s.Local, s.Remote = now, record.SideWatched, c.id, c.local, c.remote
	c.state = d.State
	if w.out != nil {
		w.lines = s.AppendJSON(w.lines)
	}
	c.ring[(c.head+c.n)%len(c.ring)] = *s
	if c.n < len(c.ring) {
		c.n++
	} else {
		c.head = (c.head + 1) % len(c.ring)
	}
	if now >= c.nextWindow {
		w.judge(c)
		c.nextWindow += int64(w.opts.Window)
		if c.nextWindow <= now {
			c.nextWindow = now + int64(w.opts.Window)
		}
	}
	if closing {
		c.closedAt = now
		delete(w.conns, d.Cookie)
		w.gone = append(w.gone, c)
	}
}

// ended is when the connection closed, or when it was last seen
// established if the latest round (gen) did not hold it; 0 while it is
// established.
func (c *conn) ended(gen uint32) int64 {
	switch {
	case c.closedAt > 0:
		return c.closedAt
	case c.seen != gen:
		return c.seenAt
	}
	return 0
}

// ordered is the ring's samples, oldest first.
func (c *conn) ordered() []tcpinfo.Sample {
	if c.inOrder == nil {
		c.inOrder = make([]tcpinfo.Sample, 0, len(c.ring))
	}
	c.inOrder = c.inOrder[:0]
	for i := 0; i < c.n; i++ {
		c.inOrder = append(c.inOrder, c.ring[(c.head+i)%len(c.ring)])
	}
	return c.inOrder
}

// judge classifies the window that just ended and keeps its rate and RTT.
func (w *Watcher) judge(c *conn) {
	ss := c.ordered()
	last := &ss[len(ss)-1]
	c.sending = last.Info.BytesReceived <= last.Info.BytesAcked
	win := int64(w.opts.Window)
	first := &ss[0]
	for i := len(ss) - 1; i >= 0; i-- {
		if last.T-ss[i].T >= win {
			first = &ss[i]
			break
		}
	}
	c.rateBits = 0
	if span := float64(last.T-first.T) / 1e9; span > 0 {
		if c.sending {
			c.rateBits = float64(last.Info.BytesAcked-first.Info.BytesAcked) * 8 / span
		} else {
			c.rateBits = float64(last.Info.BytesReceived-first.Info.BytesReceived) * 8 / span
		}
	}
	c.rttMs = float64(last.Info.RTT) / 1e3
	if !c.sending && last.Info.RcvRTT > 0 {
		c.rttMs = float64(last.Info.RcvRTT) / 1e3
	}
	class, sub, ok := report.LiveWindow(ss, c.sending, win)
	if !ok {
		return
	}
	copy(c.classes[:], c.classes[1:])
	copy(c.subs[:], c.subs[1:])
	c.classes[recentWindows-1], c.subs[recentWindows-1] = class, sub
	c.nclasses = min(c.nclasses+1, recentWindows)
	c.seconds[class] += w.opts.Window.Seconds()
}

func (w *Watcher) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Watcher) flushLocked() error {
	if w.file == nil || len(w.lines) == 0 {
		w.lines = w.lines[:0]
		return w.werr
	}
	if _, err := w.file.Write(w.lines); err != nil && w.werr == nil {
		w.werr = fmt.Errorf("write %s: %w", record.FileSamples, err)
	}
	w.lines = w.lines[:0]
	return w.werr
}

// ConnSeconds is one connection's seconds limited by each class so far.
type ConnSeconds struct {
	Local, Remote string
	Seconds       map[report.Class]float64
}

// Seconds calls fn with each followed connection's seconds by class.
func (w *Watcher) Seconds(fn func(ConnSeconds)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.sorted(false) {
		fn(ConnSeconds{Local: c.local, Remote: c.remote, Seconds: c.seconds})
	}
}

// sorted is the connections by id (with the recently closed, when asked).
func (w *Watcher) sorted(withGone bool) []*conn {
	cs := make([]*conn, 0, len(w.conns)+len(w.gone))
	for _, c := range w.conns {
		cs = append(cs, c)
	}
	if withGone {
		cs = append(cs, w.gone...)
	}
	sortByID(cs)
	return cs
}

func sortByID(cs []*conn) { sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id }) }

func sortByRate(cs []*conn) {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rateBits > cs[j].rateBits })
}

// pidSockets are the socket inodes a process holds, read from
// /proc/PID/fd again when a socket not yet known shows up (at most once
// per round).
type pidSockets struct {
	pid       int
	inodes    map[uint32]bool
	rescanned bool
}

func (p *pidSockets) alive() bool {
	err := unix.Kill(p.pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

func (p *pidSockets) holds(inode uint32) bool {
	if p.inodes[inode] {
		return true
	}
	if p.rescanned {
		return false
	}
	p.rescanned = true
	p.inodes = map[uint32]bool{}
	dir := fmt.Sprintf("/proc/%d/fd", p.pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 32); err == nil {
			p.inodes[uint32(n)] = true
		}
	}
	return p.inodes[inode]
}
