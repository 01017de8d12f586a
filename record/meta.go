package record

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tcplab/tcplab/internal/vocab"
)

// EndKind is how a run ended. Only EndCompleted can pass: a run that was
// interrupted, whose peer or program failed, whose lab failed, or that left
// no end record is never judged as if it ran.
type EndKind string

// The ways a run ends.
const (
	// EndCompleted: the run went its full length and every peer ended
	// as it should.
	EndCompleted EndKind = "completed"
	// EndInterrupted: SIGINT or SIGTERM stopped it (what it recorded is
	// reported).
	EndInterrupted EndKind = "interrupted"
	// EndPeerFailed: a peer or the user's program exited before the end,
	// with a non-zero status, or was killed by something other than tcplab.
	EndPeerFailed EndKind = "peer_failed"
	// EndFailed: the lab itself failed while running (not a peer).
	EndFailed EndKind = "failed"
	// EndKilled: meta.json has no end record: the run was killed (kill -9,
	// a power cut) before it could write one.
	EndKilled EndKind = "killed"
)

// EndKinds is the one table of the ways a run ends.
var EndKinds = []EndKind{EndCompleted, EndInterrupted, EndPeerFailed, EndFailed, EndKilled}

// MarshalText writes the end's name.
func (k EndKind) MarshalText() ([]byte, error) { return []byte(k), nil }

// UnmarshalText reads an end's name and refuses any other text.
func (k *EndKind) UnmarshalText(b []byte) error {
	return vocab.Parse(k, EndKinds, string(b), "run end")
}

// EndKind is how the run ended, resolved also for a meta.json that never
// got its end record (killed) and for one written before End was recorded:
// only its Stopped "completed" counts as completed, anything else as failed
// (no logic reads the words of Stopped beyond that one value).
func (m *Meta) EndKind() EndKind {
	switch {
	case m.End != "":
		return m.End
	case m.Stopped == "":
		return EndKilled
	case m.Stopped == string(EndCompleted):
		return EndCompleted
	}
	return EndFailed
}

// StoppedText is the one line saying how the run ended.
func (m *Meta) StoppedText() string {
	if m.EndKind() == EndKilled && m.Stopped == "" {
		return "killed (no end record): the run was killed before it could finish; what it recorded up to then is reported"
	}
	return m.Stopped
}

// PeerExit is how a peer's process ended when that failed the run.
type PeerExit string

// The ways a peer's process can fail a run.
const (
	// ExitStatus: it exited on its own with a non-zero status.
	ExitStatus PeerExit = "status"
	// ExitSignal: a signal tcplab did not send killed it.
	ExitSignal PeerExit = "signal"
	// ExitEarly: it exited with status 0 before the run's end, and the
	// scenario did not say it would (exec.exits: expected).
	ExitEarly PeerExit = "early"
	// ExitNotStopped: it did not stop within the grace period after tcplab
	// asked it to (a built-in peer): killed.
	ExitNotStopped PeerExit = "not_stopped"
	// ExitAfterStop: a built-in peer that tcplab stopped exited with an
	// error (it failed to flush or write its records).
	ExitAfterStop PeerExit = "error_at_stop"
)

// PeerExits is the one table of the ways a peer fails a run.
var PeerExits = []PeerExit{ExitStatus, ExitSignal, ExitEarly, ExitNotStopped, ExitAfterStop}

// MarshalText writes the way's name.
func (e PeerExit) MarshalText() ([]byte, error) { return []byte(e), nil }

// UnmarshalText reads a way's name and refuses any other text.
func (e *PeerExit) UnmarshalText(b []byte) error {
	return vocab.Parse(e, PeerExits, string(b), "peer exit")
}

// PeerFailure is a peer (tcplab's built-in one or the user's program) that
// failed the run: who, how, when, and the last lines it wrote on stderr.
type PeerFailure struct {
	Side Side `json:"side"`
	// Program: the user's program (exec), not tcplab's built-in peer.
	Program bool     `json:"program"`
	Command []string `json:"command,omitempty"`
	How     PeerExit `json:"how"`
	Status  int      `json:"status,omitempty"`
	Signal  string   `json:"signal,omitempty"`
	// AtS is when it exited, in seconds from the run's start.
	AtS float64 `json:"at_s"`
	// StderrFile is the file in the run directory holding its stderr;
	// StderrTail its last lines.
	StderrFile string   `json:"stderr_file,omitempty"`
	StderrTail []string `json:"stderr_tail,omitempty"`
}

// String says it in one line: "sender program exited with status 3 at
// 0.19 s"; for a built-in peer with the last line it wrote (its error).
func (f PeerFailure) String() string {
	line := f.line()
	if !f.Program && len(f.StderrTail) > 0 {
		line += ": " + strings.TrimPrefix(f.StderrTail[len(f.StderrTail)-1], "tcplab peer: ")
	}
	return line
}

func (f PeerFailure) line() string {
	who := f.Side + " peer"
	if f.Program {
		who = f.Side + " program"
	}
	at := fmt.Sprintf("at %.2f s", f.AtS)
	switch f.How {
	case ExitStatus:
		return fmt.Sprintf("%s exited with status %d %s", who, f.Status, at)
	case ExitSignal:
		return fmt.Sprintf("%s was killed by %s %s (not by tcplab)", who, f.Signal, at)
	case ExitEarly:
		if f.Program {
			return fmt.Sprintf("%s exited (status 0) %s, before the run's end (exec.exits: expected says it may)", who, at)
		}
		return fmt.Sprintf("%s exited (status 0) %s, before the run's end", who, at)
	case ExitNotStopped:
		return fmt.Sprintf("%s did not stop when asked and was killed %s", who, at)
	case ExitAfterStop:
		if f.Signal != "" {
			return fmt.Sprintf("%s was killed by %s while stopping %s", who, f.Signal, at)
		}
		return fmt.Sprintf("%s exited with status %d while stopping %s", who, f.Status, at)
	}
	return fmt.Sprintf("%s failed (%s) %s", who, f.How, at)
}

// Meta is what the run knows about itself beyond the samples and events.
type Meta struct {
	Scenario string `json:"scenario"`
	RunID    string `json:"run_id"`
	// Host is the host's CPU health during the run (nil: a run recorded
	// before it was measured).
	Host *HostHealth `json:"host,omitempty"`
	// SampleIntervalS is the sampling interval asked (0: a run recorded
	// before it was kept).
	SampleIntervalS float64 `json:"sample_interval_s,omitempty"`
	// StartedAt is the wall-clock instant of the run's t = 0 (the samples'
	// and events' clock), RFC 3339: lines up with ss, pcaps and logs. Until
	// the peers start it is when tcplab began the run.
	StartedAt   string  `json:"started_at"`
	DurationS   float64 `json:"duration_s"` // as configured
	WindowS     float64 `json:"window_s"`
	Kernel      string  `json:"kernel"`
	LinkDown    string  `json:"link_down"`
	LinkUp      string  `json:"link_up"`
	SenderAddr  string  `json:"sender_addr"`
	ReceiverAdr string  `json:"receiver_addr"`
	// VanishS is when the receiver vanished (0: it did not).
	VanishS float64 `json:"vanish_s,omitempty"`
	// FailureS is when the peer or the path failed: the vanish, or the
	// first partition of the timeline (0: neither). Detection times count
	// from it.
	FailureS float64 `json:"failure_s,omitempty"`
	// Link is the link as configured and as it ran.
	Link *LinkRecord `json:"link,omitempty"`
	// NetStat holds each namespace's non-zero TCP/IP counters at the end
	// (nstat names), by side.
	NetStat map[string]map[string]uint64 `json:"netstat,omitempty"`
	// Stopped says why the run ended in words: "completed", "interrupted
	// (SIGINT)", the peer that failed, or the error that ended it. Empty in
	// the meta.json a run writes when it starts.
	Stopped string `json:"stopped"`
	// End is how the run ended (empty until it ends: a run killed before
	// then has none, see EndKind).
	End EndKind `json:"end,omitempty"`
	// PeerFailures are the peers or programs that failed the run.
	PeerFailures []PeerFailure `json:"peer_failures,omitempty"`
	// Watch is what a tcplab watch picked (nil: a lab's run).
	Watch *WatchRecord `json:"watch,omitempty"`
}

// Title is what a report calls the run: "tcplab run SCENARIO", or
// "tcplab watch of TARGET".
func (m *Meta) Title() string {
	if m.Watch != nil {
		return "tcplab watch of " + m.Watch.Target
	}
	return "tcplab run " + m.Scenario
}

// WatchRecord is what a watch of a live host picked and how its clock fared.
type WatchRecord struct {
	// Target is the filters in the command line's words.
	Target string `json:"target"`
	// NetNS is the namespace's path ("" : tcplab's own).
	NetNS string `json:"netns,omitempty"`
	PID   int    `json:"pid,omitempty"`
	// Connections were followed; Untracked were over the watch's bound.
	Connections int `json:"connections"`
	Untracked   int `json:"untracked,omitempty"`
	// Ticks of the sampling clock, and those it was late for.
	Ticks       uint64 `json:"ticks"`
	TicksMissed uint64 `json:"ticks_missed"`
}

// LinkCounters are the userspace link's counters of one direction
// (segments), with its release lateness.
type LinkCounters struct {
	Packets     uint64  `json:"packets"`
	Forwarded   uint64  `json:"forwarded"`
	Bytes       uint64  `json:"bytes"`
	DropLoss    uint64  `json:"dropped_loss"`
	DropQueue   uint64  `json:"dropped_queue"`
	DropBlack   uint64  `json:"dropped_partition"`
	Duplicated  uint64  `json:"duplicated"`
	Reordered   uint64  `json:"reordered"`
	Corrupted   uint64  `json:"corrupted"`
	LatenessP50 float64 `json:"lateness_p50_ms"`
	LatenessP99 float64 `json:"lateness_p99_ms"`
	LatenessMax float64 `json:"lateness_max_ms"`
	WriteErrors uint64  `json:"write_errors"`
	// Resets are the RSTs a rebooted host's stand-in sent back.
	Resets uint64 `json:"resets_sent,omitempty"`
	// DropNAT are segments of connections the NAT forgot, dropped or
	// answered with NATResets RSTs.
	DropNAT   uint64 `json:"dropped_nat,omitempty"`
	NATResets uint64 `json:"nat_resets,omitempty"`
	// KeepaliveProbes and WindowProbes are the probes that entered the
	// link in this direction (sent by this direction's sending side).
	KeepaliveProbes uint64 `json:"keepalive_probes,omitempty"`
	WindowProbes    uint64 `json:"window_probes,omitempty"`
}

// LinkDirection is one direction's configuration and, for the userspace
// backend, what it did.
type LinkDirection struct {
	Config   string  `json:"config"`
	DelayMs  float64 `json:"delay_ms"`
	Loss     float64 `json:"loss"` // 0..1, random loss configured
	RateBits uint64  `json:"rate_bits"`
	// Unimpaired: nothing was configured on this direction (no delay,
	// jitter, loss, rate…): any queueing on it is the lab's own.
	Unimpaired bool          `json:"unimpaired,omitempty"`
	Counters   *LinkCounters `json:"counters,omitempty"`
}

// LinkRecord is the link as configured and as it ran.
type LinkRecord struct {
	Backend string `json:"backend"`
	// Mechanism is what made the link: userspace link, kernel netem,
	// kernel tbf, or kernel veth, unimpaired.
	Mechanism string        `json:"mechanism,omitempty"`
	Why       string        `json:"why"`
	Applied   []string      `json:"applied"`
	Down      LinkDirection `json:"down"`
	Up        LinkDirection `json:"up"`
	Timeline  bool          `json:"timeline"` // the link changed during the run
	// NAT describes the middlebox that forgets idle connections, if any.
	NAT string `json:"nat,omitempty"`
	// Wire is what connections.jsonl holds (nil: a run recorded before it).
	Wire *WireRecord `json:"wire,omitempty"`
}

// HostHealth is how the host's CPUs fared during the run.
type HostHealth struct {
	// CPUPressure is the share of the run's time some task waited for a
	// CPU (PSI, /proc/pressure/cpu; -1: the kernel has no PSI).
	CPUPressure float64 `json:"cpu_pressure"`
	// Steal is the share of CPU time the hypervisor gave to others.
	Steal float64 `json:"steal"`
	// LabCPU is tcplab's own process's CPU over the run, in cores (the
	// userspace link, the samplers, the wire): 0.5 is half a core.
	LabCPU float64 `json:"lab_cpu"`
	// Cores is the number of CPUs the host has.
	Cores int `json:"cores"`
	// Samplers are tcplab's own sock_diag samplers' clocks (a run of
	// programs or HTTP peers, which do not sample themselves).
	Samplers []SamplerClock `json:"sock_diag_samplers,omitempty"`
}

// SamplerClock is one sampler's clock over a run: the ticks it sampled
// at, those it was late for, and its thread's CPU.
type SamplerClock struct {
	Side   string  `json:"side"`
	Ticks  uint64  `json:"ticks"`
	Missed uint64  `json:"missed"`
	CPUS   float64 `json:"cpu_s"`
}

// WireRecord is how complete the wire's view of the connections is.
type WireRecord struct {
	// Connections is the number of lines of connections.jsonl.
	Connections int `json:"connections"`
	// MissedPackets were not seen (a packet socket's full buffer on the
	// kernel backend): a connection's data or close may be missing.
	MissedPackets uint64 `json:"missed_packets"`
	// Untracked connections were not followed (the tracker was full).
	Untracked int `json:"untracked"`
}

// Made names what made the link: its mechanism, or (a run recorded before
// mechanisms were) its backend.
func (l *LinkRecord) Made() string {
	if l.Mechanism != "" {
		return l.Mechanism
	}
	return l.Backend
}

// MetaFile is meta.json: the run's Meta (report.json's "meta") and the
// resolved facts judging needs besides the records — the expectations
// (report.ParseExpect reads them again), each timeline[N] span filled in. A run writes it when it starts and
// completes it at its end.
type MetaFile struct {
	Meta
	Expect []ExpectRecord `json:"expect,omitempty"`
}

// ExpectRecord is an expectation as meta.json keeps it: its text and, for
// a timeline[N].verdict, the span the scenario gave that entry (seconds).
type ExpectRecord struct {
	Source string  `json:"expect"`
	FromS  float64 `json:"from_s,omitempty"`
	ToS    float64 `json:"to_s,omitempty"`
}

// WriteMeta writes (or completes) meta.json.
func WriteMeta(rd *Dir, m MetaFile) error {
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", FileMeta, err)
	}
	return rd.WriteFile(FileMeta, append(mb, '\n'))
}

// maxMetaSize bounds what is read of meta.json.
const maxMetaSize = 16 << 20

// ReadMeta reads meta.json.
func ReadMeta(rd *Dir) (MetaFile, error) {
	var m MetaFile
	mb, err := rd.ReadFile(FileMeta, maxMetaSize)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return m, fmt.Errorf("read %s: %w", rd.Join(FileMeta), err)
	}
	return m, nil
}
