package report

import (
	"fmt"
	"strings"

	"github.com/tcplab/tcplab/record"
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

// End is how the run ended, resolved also for a meta.json written before
// End was recorded (its Stopped says it) and for one that never got its end
// record.
func (m *Meta) EndKind() EndKind {
	switch {
	case m.End != "":
		return m.End
	case m.Stopped == "":
		return EndKilled
	case m.Stopped == string(EndCompleted):
		return EndCompleted
	case strings.HasPrefix(m.Stopped, "interrupted"):
		return EndInterrupted
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

// PeerFailure is a peer (tcplab's built-in one or the user's program) that
// failed the run: who, how, when, and the last lines it wrote on stderr.
type PeerFailure struct {
	Side record.Side `json:"side"`
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
