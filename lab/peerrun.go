package lab

import (
	"bytes"
	"context"
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
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenario/units"
	"github.com/tcplab/tcplab/tcpinfo"
)

// peerReady bounds how long a peer may take to start and get ready (listen).
const peerReady = 20 * time.Second

// peerGrace is how long a peer may take past the deadline to flush and exit.
const peerGrace = 2 * time.Second

// stopGrace is how long the peers may take past the deadline to flush
// and exit: peerGrace, and a millisecond more per client connection (a
// fan-out peer writes each connection's account and samples; 5,000 on a
// loaded 2-core host overran 2 s).
func stopGrace(s *scenario.Scenario) time.Duration {
	return peerGrace + time.Duration(max(s.Receiver.Clients, 1))*time.Millisecond
}

// programEndGrace is how long a user's program gets at the end of the run
// to end by itself (it was told TCPLAB_DURATION) before its SIGTERM; a
// loaded CI runner starts programs late. (Its failing status going unseen
// was a race in watchedPeer.stop, not this grace: TestStopAfterOwnExit.)
const programEndGrace = time.Second

// peersRan is what a run of the peers learned besides how it ended.
type peersRan struct {
	// forgot is when the link's NAT first forgot a connection (-1: never).
	forgot time.Duration
	// start is the run's t = 0 on the monotonic clock (0: never started).
	start int64
	// samplers are tcplab's own sock_diag samplers' clocks (programs,
	// HTTP peers).
	samplers []record.SamplerClock
}

// runPeers starts the listening peer, then the connecting one, waits for both
// and says how the run ended, when it started, and when the link's NAT first
// forgot a connection.
func runPeers(ctx context.Context, s *scenario.Scenario, topo *netem.Topology, rd *record.Dir, exe string, note func(string, ...any), live io.Writer) (end runEnd, ran peersRan, err error) {
	ran.forgot = -1
	end, err = runPeersWatched(ctx, s, topo, rd, exe, note, live, &ran)
	return end, ran, err
}

func runPeersWatched(ctx context.Context, s *scenario.Scenario, topo *netem.Topology, rd *record.Dir, exe string, note func(string, ...any), live io.Writer, ran *peersRan) (runEnd, error) {
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
		ran.start = start
	}
	snd, rcv := peerConfigs(s, start)
	port := strconv.Itoa(s.ListenPort())
	type side struct {
		cfg *peers.Config
		ep  *netem.Endpoint
	}
	listener, connector := side{&rcv, &topo.Receiver}, side{&snd, &topo.Sender}
	if s.SenderListens() {
		listener, connector = connector, listener
	}
	listener.cfg.Listen = true
	listener.cfg.Addr = net.JoinHostPort(listener.ep.Addr.Addr().String(), port)
	connector.cfg.Addr = listener.cfg.Addr

	// With a program on either side, every socket is sampled through
	// sock_diag by tcplab itself (peerConfigs).
	diagMode := diagSampled(s)
	vars := map[string]string{
		"TCPLAB_SENDER_ADDR":   topo.Sender.Addr.Addr().String(),
		"TCPLAB_RECEIVER_ADDR": topo.Receiver.Addr.Addr().String(),
		"TCPLAB_PORT":          port,
		"TCPLAB_DURATION":      time.Duration(s.Duration).String(),
		"TCPLAB_RUN_DIR":       dir,
	}
	var eventsMu sync.Mutex
	execFor := map[string]*scenario.Exec{peers.RoleSender: s.Sender.Exec, peers.RoleReceiver: s.Receiver.Exec}

	var procs peerGroup
	abort := func(err error) (runEnd, error) {
		procs.stopAll()
		errs := procs.waitAll(peerGrace)
		err = errors.Join(append([]error{err}, errs...)...)
		return setupFailed(err), fmt.Errorf("%w: %v", ErrSetup, err)
	}
	for _, sd := range []side{listener, connector} {
		w, closeLog, err := newWatchedPeer(sd.cfg, execFor[sd.cfg.Role], peerFiles{rd, exe, start, vars, samples, events, &eventsMu})
		if err != nil {
			return abort(err)
		}
		defer closeLog()
		if err := netem.Do(sd.ep.NS, w.proc.Start); err != nil {
			return abort(fmt.Errorf("start %s in %s: %v", sd.cfg.Role, sd.ep.Namespace, err))
		}
		procs = append(procs, w)
		switch {
		case sd.cfg.Listen && execFor[sd.cfg.Role] != nil:
			if err := waitListening(ctx, sd.ep.NS, uint16(s.ListenPort()), w.proc.Exited(), peerReady); err != nil {
				return abort(fmt.Errorf("%s program: %v", sd.cfg.Role, err))
			}
		case sd.cfg.Listen || !execMode:
			if err := w.proc.WaitReady(ctx, peerReady); err != nil {
				return abort(fmt.Errorf("%s peer: %v", sd.cfg.Role, err))
			}
		}
	}
	if !execMode {
		start = tcpinfo.Monotonic()
		ran.start = start
		for _, w := range procs {
			if err := w.proc.(*peers.Process).Begin(start); err != nil {
				return abort(err)
			}
		}
	}
	var lateErrs []error // the lab's own failures after the start
	if diagMode {
		stopSampling, err := startDiagSamplers(topo, uint16(s.ListenPort()), start, time.Duration(s.SampleInterval), samples)
		if err != nil {
			return abort(err)
		}
		defer func() {
			clocks, err := stopSampling()
			ran.samplers = clocks
			if err != nil {
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
	stopTimeline := startTimeline(ctx, s, topo, start, events, &eventsMu, procs)
	defer stopTimeline()
	if s.Link.NAT != nil {
		stopWatch := watchMiddlebox(s, topo, start, events, &eventsMu)
		defer func() { ran.forgot = stopWatch() }()
	}

	end, failures := procs.runToEnd(ctx, start, time.Duration(s.Duration), stopGrace(s), rd)
	if err := stopTimeline(); err != nil {
		lateErrs = append(lateErrs, err)
	}
	return finalEnd(ctx, end, failures, lateErrs)
}

// peerConfigs is what the built-in peers are told, from the scenario alone
// (the addresses and who listens are set by the caller); start is the
// run's clock (0: told later).
func peerConfigs(s *scenario.Scenario, start int64) (snd, rcv peers.Config) {
	base := peers.Config{Start: start, Duration: time.Duration(s.Duration), SampleInterval: time.Duration(s.SampleInterval)}
	snd, rcv = base, base
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
	for _, ph := range s.Receiver.Read.Schedule {
		rp := peers.ReadPhase{Rate: ph.Rate.BytesPerSecond()}
		if ph.For != nil {
			rp.For = time.Duration(*ph.For)
		}
		rcv.ReadSchedule = append(rcv.ReadSchedule, rp)
	}
	rcv.ReadSize = int(s.Receiver.Read.Size)
	rcv.Socket = socketOptions(s.Receiver.Socket)
	snd.HTTPClient, rcv.HTTPServer = httpClientConfig(s.Sender.HTTP), httpServerConfig(s.Receiver.HTTP)
	if diagSampled(s) {
		// Every socket is sampled through sock_diag by tcplab itself: the
		// user's programs cannot be asked, an HTTP pool's connections
		// come and go, and one source keeps the two ends comparable.
		snd.NoSample, rcv.NoSample = true, true
		snd.Hello, rcv.Hello = false, false
	}
	return snd, rcv
}

// diagSampled: tcplab samples every socket on the port through sock_diag
// (a program or an HTTP peer on either side).
func diagSampled(s *scenario.Scenario) bool {
	return s.Sender.Exec != nil || s.Receiver.Exec != nil || s.Sender.HTTP != nil || s.Receiver.HTTP != nil
}

func rateOrMax(r *units.Rate) uint64 {
	if r == nil {
		return 0
	}
	return r.BytesPerSecond()
}

func httpClientConfig(h *scenario.HTTPClient) *peers.HTTPClientConfig {
	if h == nil {
		return nil
	}
	c := &peers.HTTPClientConfig{Requests: h.Requests, Concurrency: h.Concurrency, Path: h.Path, RequestSize: int(h.RequestSize), ResponseSize: -1,
		KeepAlive: *h.KeepAlive, MaxIdle: *h.MaxIdle, MaxConns: h.MaxConns, IdleTimeout: time.Duration(*h.IdleTimeout), ReadRate: rateOrMax(h.ReadRate), Timeout: time.Duration(*h.Timeout)}
	if h.Interval != nil {
		c.Interval = time.Duration(*h.Interval)
	}
	if h.ResponseSize != nil {
		c.ResponseSize = int64(*h.ResponseSize)
	}
	if h.MaxAge != nil {
		c.MaxAge = time.Duration(*h.MaxAge)
	}
	return c
}

func httpServerConfig(h *scenario.HTTPServer) *peers.HTTPServerConfig {
	if h == nil {
		return nil
	}
	c := &peers.HTTPServerConfig{ResponseSize: int64(*h.ResponseSize), MaxRequests: h.MaxRequests, Close: h.Close, WriteRate: rateOrMax(h.WriteRate), ReadRate: rateOrMax(h.ReadRate)}
	if h.ResponseTime != nil {
		c.ResponseTime = time.Duration(*h.ResponseTime)
	}
	if h.IdleTimeout != nil {
		c.IdleTimeout = time.Duration(*h.IdleTimeout)
	}
	return c
}

// startTimeline applies the scenario's timeline from start in the
// background (a kill or freeze signals the peer in procs); the function it
// returns stops it and says what went wrong (once; later calls repeat it).
func startTimeline(ctx context.Context, s *scenario.Scenario, topo *netem.Topology, start int64, events io.Writer, eventsMu *sync.Mutex, procs peerGroup) func() error {
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
	go func() { tlDone <- runTimeline(s, tlCtx, topo, start, events, eventsMu, signal) }()
	stopTimeline := sync.OnceValue(func() error {
		tlCancel()
		return <-tlDone
	})
	return stopTimeline
}

// finalEnd is how the run ended, from what the watch found: the peers that
// failed it come first, then the lab's own late failures, then ctx's end.
func finalEnd(ctx context.Context, end runEnd, failures []record.PeerFailure, lateErrs []error) (runEnd, error) {
	if len(failures) > 0 {
		sort.SliceStable(failures, func(i, j int) bool { return failures[i].AtS < failures[j].AtS })
		texts := make([]string, len(failures))
		for i, f := range failures {
			texts[i] = f.String()
		}
		msg := strings.Join(texts, "; ")
		end = runEnd{kind: record.EndPeerFailed, text: msg, failures: failures}
		return end, fmt.Errorf("%w: %s", ErrPeerFailed, msg)
	}
	if len(lateErrs) > 0 {
		err := errors.Join(lateErrs...)
		return runEnd{kind: record.EndFailed, text: "failed: " + err.Error()}, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	if ctx.Err() != nil {
		return end, context.Cause(ctx)
	}
	return end, nil
}

// peerFiles is what every peer of a run shares: the run directory, the
// executable of the built-in peers, the run's clock, the programs'
// variables and the record files.
type peerFiles struct {
	rd              *record.Dir
	exe             string
	start           int64
	vars            map[string]string
	samples, events *os.File
	eventsMu        *sync.Mutex
}

// newWatchedPeer makes (but does not start) one side's peer: the user's
// program e, or the built-in peer with cfg (its stderr to ROLE.log).
// closeLog closes that log after the run.
func newWatchedPeer(cfg *peers.Config, e *scenario.Exec, f peerFiles) (w *watchedPeer, closeLog func(), err error) {
	w = &watchedPeer{role: cfg.Role}
	if e != nil {
		v := maps.Clone(f.vars)
		v["TCPLAB_ROLE"] = cfg.Role
		ep, err := newExecProc(cfg.Role, e, v, f.rd, f.start, f.events, f.eventsMu)
		if err != nil {
			return nil, nil, err
		}
		w.proc, w.program, w.command = ep, true, ep.cmd.Args
		w.exitsExpected = e.Exits == scenario.ExitsExpected
		w.stderrFile = cfg.Role + ".stderr"
		return w, func() {}, nil
	}
	logf, err := f.rd.Create(cfg.Role + ".log")
	if err != nil {
		return nil, nil, err
	}
	w.stderr, w.stderrMu, w.stderrFile = new(bytes.Buffer), new(sync.Mutex), cfg.Role+".log"
	pp := peers.NewProcess(f.exe, *cfg, f.samples, f.events, nil)
	pp.SetStderr(io.MultiWriter(logf, &lockedWriter{w.stderrMu, w.stderr}))
	w.proc = pp
	return w, func() { logf.Close() }, nil
}

// peerGroup is the run's peer processes, listener first.
type peerGroup []*watchedPeer

func (procs peerGroup) stopAll() {
	for _, w := range procs {
		w.stop()
	}
}

// waitAll waits for every peer (killing what does not stop in grace)
// and returns the errors of the built-in peers' Wait: setup uses them.
func (procs peerGroup) waitAll(grace time.Duration) []error {
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

// runToEnd watches the started peers until the run's deadline (start +
// duration), a peer's failure or ctx's end, stops them all, and judges
// every exit: the run's end and the peers that failed it.
func (procs peerGroup) runToEnd(ctx context.Context, start int64, duration, grace time.Duration, rd *record.Dir) (runEnd, []record.PeerFailure) {
	deadline := time.Duration(start + int64(duration) - tcpinfo.Monotonic())
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
	end := runEnd{kind: record.EndCompleted, text: string(record.EndCompleted)}
	var failures []record.PeerFailure
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
			if f, failed := w.failure(start, start+int64(duration), rd); failed {
				failures = append(failures, f)
				break wait
			}
		case <-ctx.Done():
			end = runEnd{kind: record.EndInterrupted, text: "interrupted: " + context.Cause(ctx).Error()}
			break wait
		}
	}
	if atDeadline {
		// Built-in peers keep the deadline themselves (they flush and exit
		// within peerGrace). A program that ends by itself at
		// TCPLAB_DURATION gets a moment to do so; then SIGTERM.
		// One grace for all programs: a timer's channel gives one value, and
		// a second program waited on it until it ended by itself (nginx and
		// curl, neither ending: the run lasted as long as curl's download).
		graceOver := make(chan struct{})
		programEnd := time.AfterFunc(programEndGrace, func() { close(graceOver) })
		for _, w := range procs {
			if !w.program {
				continue
			}
			select {
			case <-w.proc.Exited():
			case <-graceOver:
			}
		}
		programEnd.Stop()
		for _, w := range procs {
			if w.program {
				w.stop()
			} else {
				// The deadline was its stop: one that overruns the grace
				// is killed for not stopping, not by "someone else".
				w.deadlineIsStop()
			}
		}
	} else {
		procs.stopAll()
	}
	// A process the timeline froze must run again to finish.
	for _, w := range procs {
		if !w.timeline.Load() {
			w.proc.Signal(syscall.SIGCONT)
		}
	}
	procs.waitAll(grace)
	// Every peer has exited now; each exit not yet judged (the other peer,
	// or one that failed while stopping) is judged: its watcher reports it
	// (the channel holds one place per peer), so none is missed.
	for ; judged < len(procs); judged++ {
		w := <-exits
		// Once a peer failed, the other's complaints while being stopped
		// are its consequence, not a second cause.
		if f, failed := w.failure(start, start+int64(duration), rd); failed && (len(failures) == 0 || f.How != record.ExitAfterStop) {
			failures = append(failures, f)
		}
	}
	return end, failures
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
	if so.MaxPacingRate != nil {
		o.MaxPacingRate = so.MaxPacingRate.BytesPerSecond()
	}
	return o
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
	case p.Burst != nil:
		ph := peers.Phase{Kind: peers.PhaseBurst, BurstBytes: uint64(p.Burst.Size), Every: time.Duration(p.Burst.Every)}
		if p.For != nil {
			ph.For = time.Duration(*p.For)
		}
		return ph
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
