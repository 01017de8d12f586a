package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/netem/userspace"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
)

// ErrSetup marks failures to set the lab up or to run it: bad host, missing
// privilege, a peer that could not start. The CLI exits 2 on it.
var ErrSetup = errors.New("setup failed")

// RunOptions tune a run.
type RunOptions struct {
	// OutDir is the run directory; empty makes runs/<name>-<timestamp>.
	OutDir string
	// Exe is the binary run as peer child (it must call
	// peers.MaybeRunChild); empty means this executable.
	Exe string
	// Progress receives one-line notes while the run goes on (may be nil).
	Progress io.Writer
	// Live, when set (a terminal), gets a status line rewritten twice a
	// second: elapsed time, goodput, RTT and the current window's class.
	Live io.Writer
	// Metrics, when set (host:port), serves per-connection TCP metrics in
	// Prometheus' format at /metrics during the run.
	Metrics string
	// MetricsReady is called with the address /metrics is served on.
	MetricsReady func(addr string)
	// Pcap writes link.pcap in the run directory: what crossed the link,
	// headers only (128 bytes per packet). Needs the userspace backend.
	Pcap bool

	// point: this run is a sweep's point; OutDir was made by the sweep
	// and holds point.yaml.
	point bool
}

// Result is a finished run.
type Result struct {
	Dir     string
	Summary report.Summary
}

// peerReady bounds how long a peer may take to start and get ready (listen).
const peerReady = 20 * time.Second

// peerGrace is how long a peer may take past the deadline to flush and exit.
const peerGrace = 2 * time.Second

// programEndGrace is how long a user's program gets at the end of the run
// to end by itself (it was told TCPLAB_DURATION) before its SIGTERM.
const programEndGrace = 500 * time.Millisecond

// Run builds the lab, runs the peers for the scenario's duration, removes the
// lab and writes the report. The report is written whenever the run got as
// far as starting peers, also when it is interrupted (ctx) or fails; the
// returned error then says why (wrapping ErrSetup for setup failures).
func Run(ctx context.Context, s *scenario.Scenario, opts RunOptions) (res *Result, err error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: tcplab run needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces; run it with sudo", ErrSetup)
	}
	if _, err := Expectations(s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	exe := opts.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("%w: find own executable for the peers: %v", ErrSetup, err)
		}
	}
	started := time.Now()
	dir := opts.OutDir
	if dir == "" {
		dir = filepath.Join("runs", s.Name+"-"+started.Format("20060102-150405.000"))
	}
	var rd *record.Dir
	if opts.point {
		rd, err = record.Open(dir)
	} else {
		rd, err = record.Create(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	defer rd.Close()
	if s.Link.Seed == nil {
		// Record the seed the run uses, so the resolved file repeats it.
		seed := int(time.Now().UnixNano()%(1<<31)) + 1
		s.Link.Seed = &seed
	}
	backend, why, err := chooseBackend(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	resolved, err := scenario.MarshalYAMLResolved(s)
	if err != nil {
		return nil, fmt.Errorf("encode resolved scenario: %w", err)
	}
	if err := rd.WriteFile(record.FileScenario, resolved); err != nil {
		return nil, fmt.Errorf("%w: write resolved scenario: %v", ErrSetup, err)
	}
	note := func(format string, a ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", a...)
		}
	}

	down, up := s.Link.Impairments()
	cfg := netem.Config{Backend: backend, Down: down, Up: up}
	if n := s.Link.NAT; n != nil {
		cfg.Middlebox = userspace.Middlebox{IdleTimeout: time.Duration(n.IdleTimeout), Reset: n.Expired == "rst"}
	}
	if opts.Pcap {
		if backend != netem.Userspace {
			return nil, fmt.Errorf("%w: --pcap records what crosses the userspace link; this run uses the %s backend (%s): set link.backend: userspace", ErrSetup, backend, why)
		}
		f, err := rd.Create(record.FilePcap)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSetup, err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		defer func() {
			if ferr := errors.Join(bw.Flush(), f.Close()); ferr != nil {
				err = errors.Join(err, fmt.Errorf("write %s: %w", record.FilePcap, ferr))
			}
		}()
		cfg.Capture, cfg.CaptureSnaplen = bw, 128
	}
	topo, err := netem.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: build lab: %v", ErrSetup, err)
	}
	defer func() {
		if cerr := topo.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove lab %s: %w", topo.RunID, cerr))
		}
	}()
	if opts.Metrics != "" {
		bound, stop, merr := serveMetrics(opts.Metrics, topo, uint16(s.Sender.Port))
		if merr != nil {
			return nil, fmt.Errorf("%w: --metrics: %v", ErrSetup, merr)
		}
		defer stop()
		note("metrics at http://%s/metrics", bound)
		if opts.MetricsReady != nil {
			opts.MetricsReady(bound)
		}
	}
	note("lab %s: %s (%s) ⇄ %s (%s), %s backend", topo.RunID, topo.Sender.Namespace, topo.Sender.Addr.Addr(), topo.Receiver.Namespace, topo.Receiver.Addr.Addr(), topo.Backend)
	link := &report.LinkRecord{Backend: topo.Backend, Mechanism: linkMechanism(s, topo.Backend), Why: why, Applied: topo.Applied, Timeline: len(s.Timeline) > 0,
		Down: linkDirection(s.Link.Resolve("down"), down), Up: linkDirection(s.Link.Resolve("up"), up)}
	if n := s.Link.NAT; n != nil {
		link.NAT = fmt.Sprintf("forgets a connection idle for %v; then %s", time.Duration(n.IdleTimeout), map[string]string{"drop": "drops its packets", "rst": "answers its packets with an RST"}[n.Expired])
	}

	meta := report.Meta{
		Scenario:    s.Name,
		RunID:       topo.RunID,
		StartedAt:   started.UTC().Format(time.RFC3339Nano),
		DurationS:   time.Duration(s.Duration).Seconds(),
		WindowS:     time.Duration(s.Window).Seconds(),
		Kernel:      netem.KernelRelease(),
		LinkDown:    s.Link.Resolve("down").String(),
		LinkUp:      s.Link.Resolve("up").String(),
		Link:        link,
		VanishS:     vanishS(s),
		FailureS:    failureStart(s).Seconds(),
		SenderAddr:  topo.Sender.Addr.Addr().String(),
		ReceiverAdr: topo.Receiver.Addr.Addr().String(),
	}
	// meta.json is there from the start: a run killed before its end still
	// has one (without an end record) and can be reported as killed.
	if err := writeMeta(rd, meta); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	end, forgot, runErr := runPeers(ctx, s, topo, rd, exe, note, opts.Live)
	if forgot >= 0 && (meta.FailureS == 0 || forgot.Seconds() < meta.FailureS) {
		// The NAT forgetting the connection is the failure its ends must notice.
		meta.FailureS = forgot.Seconds()
	}
	meta.Stopped, meta.End, meta.PeerFailures = end.text, end.kind, end.failures
	meta.NetStat = map[string]map[string]uint64{}
	for side, ep := range map[string]*netem.Endpoint{peers.RoleSender: &topo.Sender, peers.RoleReceiver: &topo.Receiver} {
		if c, err := netem.NetStat(ep); err == nil {
			meta.NetStat[side] = c
		}
	}
	if st := topo.LinkStats(); st != nil {
		link.Down.Counters, link.Up.Counters = linkCounters(st[netem.Down]), linkCounters(st[netem.Up])
	}

	sum, rerr := writeReport(rd, meta, s)
	if rerr != nil {
		return nil, errors.Join(runErr, rerr)
	}
	return &Result{Dir: dir, Summary: sum}, runErr
}

// runEnd is how the peers' part of a run ended.
type runEnd struct {
	kind     report.EndKind
	text     string // meta.Stopped
	failures []report.PeerFailure
}

func setupFailed(err error) runEnd {
	return runEnd{kind: report.EndFailed, text: "failed: " + err.Error()}
}

// runPeers starts the listening peer, then the connecting one, waits for both
// and says how the run ended, and when the link's NAT first forgot a
// connection (-1: never).
func runPeers(ctx context.Context, s *scenario.Scenario, topo *netem.Topology, rd *record.Dir, exe string, note func(string, ...any), live io.Writer) (end runEnd, forgot time.Duration, err error) {
	forgot = -1
	end, err = runPeersWatched(ctx, s, topo, rd, exe, note, live, &forgot)
	return end, forgot, err
}

func runPeersWatched(ctx context.Context, s *scenario.Scenario, topo *netem.Topology, rd *record.Dir, exe string, note func(string, ...any), live io.Writer, forgot *time.Duration) (runEnd, error) {
	dir := rd.Path
	samples, err := rd.CreateAppend(record.FileSamples)
	if err != nil {
		return setupFailed(err), fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer samples.Close()
	events, err := rd.CreateAppend(record.FileEvents)
	if err != nil {
		return setupFailed(err), fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer events.Close()

	// The run's clock starts at the first connect attempt: built-in peers get
	// ready (the listener listens), then both are told the start at once,
	// so a lab slow to start (a busy host, a sweep) does not eat into the
	// timeline. A user's program starts its own clock when it is launched.
	execMode := s.Sender.Exec != nil || s.Receiver.Exec != nil
	var start int64
	if execMode {
		start = tcpinfo.Monotonic()
	}
	base := peers.Config{Start: start, Duration: time.Duration(s.Duration), SampleInterval: time.Duration(s.SampleInterval)}
	snd, rcv := base, base
	snd.Role, rcv.Role = peers.RoleSender, peers.RoleReceiver
	if s.Sender.Rate != nil {
		snd.RateBits = uint64(*s.Sender.Rate)
	}
	snd.MessageSize = int(s.Sender.Message.Size)
	snd.Socket = socketOptions(s.Sender.Socket)
	for _, ph := range s.Sender.Schedule {
		snd.Schedule = append(snd.Schedule, peerPhase(ph))
	}
	if p := s.Sender.Policy; p != nil && p.ResetSlowClient != nil {
		snd.ResetSlowClient = &peers.ResetPolicy{BacklogAbove: uint64(p.ResetSlowClient.BacklogAbove), For: time.Duration(p.ResetSlowClient.For)}
	}
	rcv.Stalls = peerStalls(s.Receiver.Stalls)
	seed := int64(*s.Link.Seed)
	snd.Seed, rcv.Seed = seed, seed
	snd.Resume, snd.Repeat = s.Sender.Resume, s.Sender.Repeat
	if m := s.Sender.Message; m.Distribution != "fixed" {
		snd.Sizes = &peers.SizeDist{Kind: m.Distribution, Mean: int(m.Size), Max: int(m.Max)}
	}
	if p := s.Sender.Policy; p != nil {
		if p.CloseIdle != nil {
			snd.CloseIdle = time.Duration(*p.CloseIdle)
		}
		for _, r := range p.Refuse {
			snd.Refuse = append(snd.Refuse, peers.Refusal{At: time.Duration(r.At), For: time.Duration(r.For), Mode: r.Mode})
		}
	}
	rc := &s.Receiver
	rcv.Clients = rc.Clients
	if rc.CloseAt != nil {
		rcv.CloseAt = time.Duration(*rc.CloseAt)
	}
	if rc.CloseEvery != nil {
		rcv.CloseEvery = time.Duration(*rc.CloseEvery)
	}
	if r := rc.Reconnect; r != nil {
		rcv.Reconnect = &peers.Reconnect{Min: time.Duration(r.Initial), Max: time.Duration(r.Max), Jitter: float64(*r.Jitter) / 100, Resume: r.Resume, Timeout: time.Duration(r.ConnectTimeout)}
	}
	for _, o := range rc.Overrides {
		po := peers.ClientOverride{Clients: o.Clients}
		if o.Read != nil && o.Read.Rate != nil {
			v := o.Read.Rate.BytesPerSecond()
			po.ReadRate = &v
		}
		if o.Stalls != nil {
			po.Stalls = peerStalls(o.Stalls)
		}
		if o.CloseAt != nil {
			v := time.Duration(*o.CloseAt)
			po.CloseAt = &v
		}
		rcv.Overrides = append(rcv.Overrides, po)
	}
	// Both ends built-in: each connection starts with the client's hello.
	snd.Hello = s.Sender.Exec == nil && s.Receiver.Exec == nil
	rcv.Hello = snd.Hello
	if v := s.Receiver.Vanish; v != nil {
		rcv.VanishAt = time.Duration(*v)
	}
	rcv.ReadRate = s.Receiver.Read.Rate.BytesPerSecond()
	rcv.ReadSize = int(s.Receiver.Read.Size)
	rcv.Socket = socketOptions(s.Receiver.Socket)
	port := strconv.Itoa(s.Sender.Port)
	type side struct {
		cfg *peers.Config
		ep  *netem.Endpoint
	}
	listener, connector := side{&rcv, &topo.Receiver}, side{&snd, &topo.Sender}
	if *s.Sender.Listen {
		listener, connector = connector, listener
	}
	listener.cfg.Listen = true
	listener.cfg.Addr = net.JoinHostPort(listener.ep.Addr.Addr().String(), port)
	connector.cfg.Addr = listener.cfg.Addr

	diagMode := s.Sender.Exec != nil || s.Receiver.Exec != nil
	if diagMode {
		// Every socket is sampled through sock_diag by tcplab itself: the
		// user's programs cannot be asked, and one source keeps the two
		// ends comparable.
		snd.NoSample, rcv.NoSample = true, true
	}
	vars := map[string]string{
		"TCPLAB_SENDER_ADDR":   topo.Sender.Addr.Addr().String(),
		"TCPLAB_RECEIVER_ADDR": topo.Receiver.Addr.Addr().String(),
		"TCPLAB_PORT":          port,
		"TCPLAB_DURATION":      time.Duration(s.Duration).String(),
		"TCPLAB_RUN_DIR":       dir,
	}
	var eventsMu sync.Mutex
	execFor := map[string]*scenario.Exec{peers.RoleSender: s.Sender.Exec, peers.RoleReceiver: s.Receiver.Exec}

	var procs []*watchedPeer
	stopAll := func() {
		for _, w := range procs {
			w.stop()
		}
	}
	// waitAll waits for every peer (killing what does not stop in grace)
	// and returns the errors of the built-in peers' Wait: setup uses them.
	waitAll := func(grace time.Duration) []error {
		var errs []error
		for _, w := range procs {
			if err := w.proc.Wait(grace); err != nil && !w.timeline.Load() {
				if w.stderr != nil {
					w.stderrMu.Lock()
					if msg := strings.TrimSpace(w.stderr.String()); msg != "" {
						err = fmt.Errorf("%w: %s", err, msg)
					}
					w.stderrMu.Unlock()
				}
				errs = append(errs, err)
			}
		}
		return errs
	}
	abort := func(err error) (runEnd, error) {
		stopAll()
		errs := waitAll(peerGrace)
		err = errors.Join(append([]error{err}, errs...)...)
		return setupFailed(err), fmt.Errorf("%w: %v", ErrSetup, err)
	}
	for _, sd := range []side{listener, connector} {
		w := &watchedPeer{role: sd.cfg.Role}
		if e := execFor[sd.cfg.Role]; e != nil {
			v := maps.Clone(vars)
			v["TCPLAB_ROLE"] = sd.cfg.Role
			ep, err := newExecProc(sd.cfg.Role, e, v, rd, start, events, &eventsMu)
			if err != nil {
				return abort(err)
			}
			w.proc, w.program, w.command = ep, true, ep.cmd.Args
			w.exitsExpected = e.Exits == scenario.ExitsExpected
			w.stderrFile = sd.cfg.Role + ".stderr"
		} else {
			logf, err := rd.Create(sd.cfg.Role + ".log")
			if err != nil {
				return abort(err)
			}
			defer logf.Close()
			w.stderr, w.stderrMu, w.stderrFile = new(bytes.Buffer), new(sync.Mutex), sd.cfg.Role+".log"
			pp := peers.NewProcess(exe, *sd.cfg, samples, events, nil)
			pp.SetStderr(io.MultiWriter(logf, &lockedWriter{w.stderrMu, w.stderr}))
			w.proc = pp
		}
		if err := netem.Do(sd.ep.NS, w.proc.Start); err != nil {
			return abort(fmt.Errorf("start %s in %s: %v", sd.cfg.Role, sd.ep.Namespace, err))
		}
		procs = append(procs, w)
		if sd.cfg.Listen || !execMode {
			if err := w.proc.WaitReady(ctx, peerReady); err != nil {
				return abort(fmt.Errorf("%s peer: %v", sd.cfg.Role, err))
			}
		}
	}
	if !execMode {
		start = tcpinfo.Monotonic()
		for _, w := range procs {
			if err := w.proc.(*peers.Process).Begin(start); err != nil {
				return abort(err)
			}
		}
	}
	var lateErrs []error // the lab's own failures after the start
	if diagMode {
		stopSampling, err := startDiagSamplers(topo, uint16(s.Sender.Port), start, time.Duration(s.SampleInterval), samples)
		if err != nil {
			return abort(err)
		}
		defer func() {
			if err := stopSampling(); err != nil {
				lateErrs = append(lateErrs, err)
			}
		}()
	}
	note("traffic for %v: %s → %s", time.Duration(s.Duration), snd.Role, listener.cfg.Addr)
	if live != nil {
		lctx, lcancel := context.WithCancel(ctx)
		ldone := make(chan struct{})
		go func() {
			liveProgress(lctx, live, filepath.Join(dir, record.FileSamples), start, time.Duration(s.Duration), time.Duration(s.Window))
			close(ldone)
		}()
		defer func() { lcancel(); <-ldone }()
	}
	tlCtx, tlCancel := context.WithCancel(ctx)
	tlDone := make(chan error, 1)
	signal := func(role string, sig syscall.Signal) error {
		for _, w := range procs {
			if w.role != role {
				continue
			}
			if sig == syscall.SIGKILL {
				// Killed on purpose: its exit neither ends the run nor fails it.
				w.timeline.Store(true)
			}
			return w.proc.Signal(sig)
		}
		return fmt.Errorf("no %s process", role)
	}
	go func() { tlDone <- runTimeline(s, tlCtx, topo, start, events, &eventsMu, signal) }()
	if s.Link.NAT != nil {
		stopWatch := watchMiddlebox(s, topo, start, events, &eventsMu)
		defer func() { *forgot = stopWatch() }()
	}
	stopTimeline := sync.OnceValue(func() error {
		tlCancel()
		return <-tlDone
	})
	defer stopTimeline()

	deadline := time.Duration(start + int64(s.Duration) - tcpinfo.Monotonic())
	t := time.NewTimer(deadline)
	defer t.Stop()
	// Peers run until the deadline: one that exits sooner has failed, unless
	// it is a program that says it ends by itself and exits 0, or the
	// timeline killed it. A failure stops the other peer at once.
	exits := make(chan *watchedPeer, len(procs))
	watching := make(chan struct{})
	defer close(watching)
	for _, w := range procs {
		go w.watch(exits, watching)
	}
	end := runEnd{kind: report.EndCompleted, text: string(report.EndCompleted)}
	var failures []report.PeerFailure
	atDeadline := false
	judged := 0 // exits received from the watchers
wait:
	for {
		select {
		case <-t.C:
			atDeadline = true
			break wait
		case w := <-exits:
			judged++
			if f, failed := w.failure(start, start+int64(s.Duration), rd); failed {
				failures = append(failures, f)
				break wait
			}
		case <-ctx.Done():
			end = runEnd{kind: report.EndInterrupted, text: "interrupted: " + context.Cause(ctx).Error()}
			break wait
		}
	}
	if atDeadline {
		// Built-in peers keep the deadline themselves (they flush and exit
		// within peerGrace). A program that ends by itself at
		// TCPLAB_DURATION gets a moment to do so; then SIGTERM.
		programEnd := time.NewTimer(programEndGrace)
		for _, w := range procs {
			if !w.program {
				continue
			}
			select {
			case <-w.proc.Exited():
			case <-programEnd.C:
			}
		}
		programEnd.Stop()
		for _, w := range procs {
			if w.program {
				w.stop()
			}
		}
	} else {
		stopAll()
	}
	// A process the timeline froze must run again to finish.
	for _, w := range procs {
		if !w.timeline.Load() {
			w.proc.Signal(syscall.SIGCONT)
		}
	}
	waitAll(peerGrace)
	// Every peer has exited now; each exit not yet judged (the other peer,
	// or one that failed while stopping) is judged: its watcher reports it
	// (the channel holds one place per peer), so none is missed.
	for ; judged < len(procs); judged++ {
		w := <-exits
		// Once a peer failed, the other's complaints while being stopped
		// are its consequence, not a second cause.
		if f, failed := w.failure(start, start+int64(s.Duration), rd); failed && (len(failures) == 0 || f.How != report.ExitAfterStop) {
			failures = append(failures, f)
		}
	}
	if err := stopTimeline(); err != nil {
		lateErrs = append(lateErrs, err)
	}
	if len(failures) > 0 {
		sort.SliceStable(failures, func(i, j int) bool { return failures[i].AtS < failures[j].AtS })
		texts := make([]string, len(failures))
		for i, f := range failures {
			texts[i] = f.String()
		}
		msg := strings.Join(texts, "; ")
		end = runEnd{kind: report.EndPeerFailed, text: msg, failures: failures}
		return end, fmt.Errorf("%w: %s", ErrPeerFailed, msg)
	}
	if len(lateErrs) > 0 {
		err := errors.Join(lateErrs...)
		return runEnd{kind: report.EndFailed, text: "failed: " + err.Error()}, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	if ctx.Err() != nil {
		return end, context.Cause(ctx)
	}
	return end, nil
}

// lockedWriter writes to a buffer that is read while it is written.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		// Keep the tail only: the report shows the last lines.
		tail := append([]byte(nil), l.b.Bytes()[l.b.Len()-16<<10:]...)
		l.b.Reset()
		l.b.Write(tail)
	}
	return l.b.Write(p)
}

func socketOptions(so scenario.Socket) peers.SocketOptions {
	o := peers.SocketOptions{Sndbuf: int(so.Sndbuf), Rcvbuf: int(so.Rcvbuf), NoDelay: so.NoDelay, Congestion: so.Congestion, NotsentLowat: int(so.NotsentLowat)}
	if k := so.Keepalive; k != nil {
		o.Keepalive = &peers.Keepalive{Idle: time.Duration(k.Idle), Interval: time.Duration(k.Interval), Count: k.Count}
	}
	if so.UserTimeout != nil {
		o.UserTimeout = time.Duration(*so.UserTimeout)
	}
	if so.Linger != nil {
		l := time.Duration(*so.Linger)
		o.Linger = &l
	}
	return o
}

// writeMeta writes (or completes) meta.json.
func writeMeta(rd *record.Dir, meta report.Meta) error {
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", record.FileMeta, err)
	}
	return rd.WriteFile(record.FileMeta, append(mb, '\n'))
}

// writeReport completes the run's meta data and renders every report
// format from the run directory's recorded data.
func writeReport(rd *record.Dir, meta report.Meta, s *scenario.Scenario) (report.Summary, error) {
	if err := writeMeta(rd, meta); err != nil {
		return report.Summary{}, err
	}
	samples, events, err := readRecorded(rd, false)
	if err != nil {
		return report.Summary{}, err
	}
	sum, files, err := renderReport(meta, s, samples, events)
	if err != nil {
		return sum, err
	}
	return sum, writeFiles(rd, files)
}

// Limits of what tcplab report reads from a run directory besides the
// samples and events (whose lines are bounded by report.MaxLine).
const maxMetaSize = 16 << 20

// ErrNoData marks a run directory whose recorded data is missing or empty:
// tcplab report leaves its reports as they are.
var ErrNoData = errors.New("no recorded data to judge")

// readRecorded reads samples.jsonl and events.jsonl. strict (tcplab
// report): both must exist and the samples must hold at least one sample.
func readRecorded(rd *record.Dir, strict bool) ([]tcpinfo.Sample, []peers.Event, error) {
	read := func(name string, decode func(f *os.File) error) error {
		f, err := rd.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !strict {
				return nil
			}
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%w: %s is missing", ErrNoData, rd.Join(name))
			}
			return err
		}
		defer f.Close()
		return decode(f)
	}
	var samples []tcpinfo.Sample
	var events []peers.Event
	err := errors.Join(
		read(record.FileSamples, func(f *os.File) (err error) {
			samples, err = report.DecodeSamples(f, rd.Join(record.FileSamples))
			return
		}),
		read(record.FileEvents, func(f *os.File) (err error) { events, err = report.DecodeEvents(f, rd.Join(record.FileEvents)); return }),
	)
	if err != nil {
		return nil, nil, err
	}
	if strict && len(samples) == 0 {
		return nil, nil, fmt.Errorf("%w: %s holds no samples", ErrNoData, rd.Join(record.FileSamples))
	}
	return samples, events, nil
}

// Rerender renders every report format of a finished run again from what
// it recorded (scenario.yaml, meta.json, samples.jsonl, events.jsonl): no
// root, no network. report.json comes out byte for byte as the run wrote it.
// Reports are never made worse: with its recorded data missing, empty or
// unreadable it writes nothing and says why (ErrNoData). A run killed before
// its end (meta.json without an end record) is reported as killed, with
// what it recorded.
func Rerender(dir string) (*Result, error) {
	rd, err := record.Open(dir)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	sb, err := rd.ReadFile(record.FileScenario, scenario.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory: %w", dir, err)
	}
	s, err := scenario.Parse(rd.Join(record.FileScenario), sb)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory: %w", dir, err)
	}
	mb, err := rd.ReadFile(record.FileMeta, maxMetaSize)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory (or one from before meta.json was kept): %w", dir, err)
	}
	var meta report.Meta
	if err := json.Unmarshal(mb, &meta); err != nil {
		return nil, fmt.Errorf("read %s: %w", rd.Join(record.FileMeta), err)
	}
	samples, events, err := readRecorded(rd, true)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	sum, files, err := renderReport(meta, s, samples, events)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	if err := writeFiles(rd, files); err != nil {
		return nil, err
	}
	return &Result{Dir: dir, Summary: sum}, nil
}

// reportFile is one rendered report and its file name.
type reportFile struct {
	name string
	data []byte
}

// renderReport judges the recorded data and renders every format in
// memory: nothing is written unless all of them rendered.
func renderReport(meta report.Meta, s *scenario.Scenario, samples []tcpinfo.Sample, events []peers.Event) (report.Summary, []reportFile, error) {
	exps, err := Expectations(s)
	if err != nil {
		return report.Summary{}, nil, err
	}
	sum := report.Build(meta, samples, events, int64(s.Window))
	for _, e := range exps {
		sum.Expectations = append(sum.Expectations, e.Check(&sum))
	}
	sum.Pass = sum.Passed()
	js, err := report.MarshalJSON(&sum)
	if err != nil {
		return sum, nil, err
	}
	files := []reportFile{{record.FileReport, js}}
	var errs []error
	render := func(name string, fn func(io.Writer) error) {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", name, err))
			return
		}
		files = append(files, reportFile{name, b.Bytes()})
	}
	render(record.FileText, func(w io.Writer) error { report.WriteText(w, &sum); return nil })
	render(record.FileMarkdown, func(w io.Writer) error { return report.WriteMarkdown(w, &sum) })
	render(record.FileJUnit, func(w io.Writer) error { return report.WriteJUnit(w, []*report.Summary{&sum}) })
	render(record.FileHTML, func(w io.Writer) error { return report.WriteHTML(w, &sum, samples, events) })
	return sum, files, errors.Join(errs...)
}

func writeFiles(rd *record.Dir, files []reportFile) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, rd.WriteFile(f.name, f.data))
	}
	return errors.Join(errs...)
}

func linkDirection(d scenario.Direction, im impair.Impairment) report.LinkDirection {
	return report.LinkDirection{Config: d.String(), DelayMs: float64(im.Delay) / 1e6, Loss: im.Loss, RateBits: im.RateBits}
}

func linkCounters(st userspace.Stats) *report.LinkCounters {
	return &report.LinkCounters{
		Packets: st.Packets, Forwarded: st.Forwarded, Bytes: st.Bytes, DropLoss: st.DropLoss, DropQueue: st.DropQueue,
		DropBlack: st.DropBlack, Duplicated: st.Duplicated, Reordered: st.Reordered, Corrupted: st.Corrupted, WriteErrors: st.WriteErrors,
		Resets: st.Resets, DropNAT: st.DropMiddlebox, NATResets: st.MiddleboxResets, KeepaliveProbes: st.KeepaliveProbes, WindowProbes: st.WindowProbes,
		LatenessP50: float64(st.LatenessP50) / 1e6, LatenessP99: float64(st.LatenessP99) / 1e6, LatenessMax: float64(st.LatenessMax) / 1e6,
	}
}

func peerPhase(p scenario.Phase) peers.Phase {
	switch {
	case p.Pause != nil:
		return peers.Phase{Kind: peers.PhasePause, For: time.Duration(*p.Pause)}
	case p.Replay != nil:
		return peers.Phase{Kind: peers.PhaseReplay, Bits: p.Replay.Bits, Msgs: p.Replay.Msgs}
	case p.Off != nil:
		return peers.Phase{Kind: peers.PhaseOff, For: time.Duration(*p.Off)}
	case p.Ramp != nil:
		r := p.Ramp
		return peers.Phase{Kind: peers.PhaseRamp, Bits: r.From.Bits, Msgs: r.From.Msgs, ToBits: r.To.Bits, ToMsgs: r.To.Msgs, For: time.Duration(r.For)}
	}
	ph := peers.Phase{Kind: peers.PhaseRate}
	if p.Rate != nil {
		ph.Bits, ph.Msgs = p.Rate.Bits, p.Rate.Msgs
	}
	if p.For != nil {
		ph.For = time.Duration(*p.For)
	}
	return ph
}

func peerStalls(ss []scenario.Stall) []peers.Stall {
	out := []peers.Stall{}
	for _, sw := range ss {
		out = append(out, peers.Stall{At: time.Duration(sw.At), For: time.Duration(sw.For)})
	}
	return out
}

func vanishS(s *scenario.Scenario) float64 {
	if s.Receiver.Vanish == nil {
		return 0
	}
	return time.Duration(*s.Receiver.Vanish).Seconds()
}
