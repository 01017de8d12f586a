package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/netem/userspace"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
	"github.com/tcplab/tcplab/wire"
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
	// The wire's view of every connection, whatever programs made them.
	var tracker *wire.Tracker
	if s.Link.WireFollowed() {
		tracker = wire.NewTracker()
		cfg.Observer = tracker
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
		bound, stop, merr := serveMetrics(opts.Metrics, topo, uint16(s.ListenPort()))
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
	link := linkRecordOf(s, topo, why, down, up)
	meta := startMeta(s, topo, started, link)
	// meta.json is there from the start: a run killed before its end still
	// has one (without an end record) and can be reported as killed.
	if err := writeMeta(rd, meta, s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	before := readHostClock()
	end, ran, runErr := runPeers(ctx, s, topo, rd, exe, note, opts.Live)
	meta.Host = hostHealth(before, readHostClock())
	meta.Host.Samplers = ran.samplers
	if ran.start != 0 {
		// The wall clock at t = 0, not when the lab began to be built.
		meta.StartedAt = time.Now().Add(-time.Duration(tcpinfo.Monotonic() - ran.start)).UTC().Format(time.RFC3339Nano)
	}
	if ran.forgot >= 0 && (meta.FailureS == 0 || ran.forgot.Seconds() < meta.FailureS) {
		// The NAT forgetting the connection is the failure its ends must notice.
		meta.FailureS = ran.forgot.Seconds()
	}
	if err := writeConnections(rd, topo, tracker, ran.start, meta.Link); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("%w: %v", ErrSetup, err))
	}
	meta.Stopped, meta.End, meta.PeerFailures = end.text, end.kind, end.failures
	endCounters(&meta, topo)

	sum, rerr := writeReport(rd, meta, s)
	if rerr != nil {
		return nil, errors.Join(runErr, rerr)
	}
	return &Result{Dir: dir, Summary: sum}, runErr
}

// writeConnections stops the wire's observation and writes what it saw of
// every connection to connections.jsonl, noting in link what it missed.
func writeConnections(rd *record.Dir, topo *netem.Topology, tracker *wire.Tracker, start int64, link *record.LinkRecord) error {
	topo.StopObserving()
	if start == 0 || tracker == nil {
		return nil // the peers never started, or link.wire: false
	}
	conns := tracker.Conns(start, tcpinfo.Monotonic())
	link.Wire = &record.WireRecord{Connections: len(conns), MissedPackets: topo.ObserverMissed(), Untracked: tracker.Dropped()}
	f, err := rd.Create(record.FileConnections)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	enc := json.NewEncoder(w)
	for i := range conns {
		if err := enc.Encode(&conns[i]); err != nil {
			f.Close()
			return err
		}
	}
	return errors.Join(w.Flush(), f.Close())
}

// runEnd is how the peers' part of a run ended.
type runEnd struct {
	kind     record.EndKind
	text     string // meta.Stopped
	failures []record.PeerFailure
}

func setupFailed(err error) runEnd {
	return runEnd{kind: record.EndFailed, text: "failed: " + err.Error()}
}

// linkRecordOf is the link as configured and as the backend made it.
func linkRecordOf(s *scenario.Scenario, topo *netem.Topology, why string, down, up impair.Impairment) *record.LinkRecord {
	link := &record.LinkRecord{Backend: string(topo.Backend), Mechanism: linkMechanism(s, topo.Backend), Why: why, Applied: topo.Applied, Timeline: len(s.Timeline) > 0,
		Down: linkDirection(s.Link.Resolve(impair.Down), down), Up: linkDirection(s.Link.Resolve(impair.Up), up)}
	if n := s.Link.NAT; n != nil {
		link.NAT = fmt.Sprintf("forgets a connection idle for %v; then %s", time.Duration(n.IdleTimeout), map[string]string{"drop": "drops its packets", "rst": "answers its packets with an RST"}[n.Expired])
	}
	return link
}

// startMeta is the run's meta.json as the run starts.
func startMeta(s *scenario.Scenario, topo *netem.Topology, started time.Time, link *record.LinkRecord) record.Meta {
	return record.Meta{
		Scenario:        s.Name,
		RunID:           topo.RunID,
		StartedAt:       started.UTC().Format(time.RFC3339Nano),
		DurationS:       time.Duration(s.Duration).Seconds(),
		WindowS:         time.Duration(s.Window).Seconds(),
		SampleIntervalS: time.Duration(s.SampleInterval).Seconds(),
		Kernel:          netem.KernelRelease(),
		LinkDown:        s.Link.Resolve(impair.Down).String(),
		LinkUp:          s.Link.Resolve(impair.Up).String(),
		Link:            link,
		VanishS:         vanishS(s),
		FailureS:        failureStart(s).Seconds(),
		SenderAddr:      topo.Sender.Addr.Addr().String(),
		ReceiverAdr:     topo.Receiver.Addr.Addr().String(),
	}
}

// endCounters adds what the run's end counts: each namespace's TCP/IP
// counters and the userspace link's.
func endCounters(meta *record.Meta, topo *netem.Topology) {
	meta.NetStat = map[string]map[string]uint64{}
	for side, ep := range map[string]*netem.Endpoint{peers.RoleSender: &topo.Sender, peers.RoleReceiver: &topo.Receiver} {
		if c, err := netem.NetStat(ep); err == nil {
			meta.NetStat[side] = c
		}
	}
	if st := topo.LinkStats(); st != nil {
		meta.Link.Down.Counters, meta.Link.Up.Counters = linkCounters(st[netem.Down]), linkCounters(st[netem.Up])
	}
}

func linkDirection(d scenario.Direction, im impair.Impairment) record.LinkDirection {
	return record.LinkDirection{Config: d.String(), DelayMs: float64(im.Delay) / 1e6, Loss: im.Loss, RateBits: im.RateBits, Unimpaired: im.IsZero()}
}

func linkCounters(st userspace.Stats) *record.LinkCounters {
	return &record.LinkCounters{
		Packets: st.Packets, Forwarded: st.Forwarded, Bytes: st.Bytes, DropLoss: st.DropLoss, DropQueue: st.DropQueue,
		DropBlack: st.DropBlack, Duplicated: st.Duplicated, Reordered: st.Reordered, Corrupted: st.Corrupted, WriteErrors: st.WriteErrors,
		Resets: st.Resets, DropNAT: st.DropMiddlebox, NATResets: st.MiddleboxResets, KeepaliveProbes: st.KeepaliveProbes, WindowProbes: st.WindowProbes,
		LatenessP50: float64(st.LatenessP50) / 1e6, LatenessP99: float64(st.LatenessP99) / 1e6, LatenessMax: float64(st.LatenessMax) / 1e6,
	}
}

func vanishS(s *scenario.Scenario) float64 {
	if s.Receiver.Vanish == nil {
		return 0
	}
	return time.Duration(*s.Receiver.Vanish).Seconds()
}
