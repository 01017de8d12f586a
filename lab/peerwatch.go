package lab

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// ErrPeerFailed marks a run that a peer or the user's program failed: it
// exited before the end, with a non-zero status, or was killed by something
// other than tcplab. The CLI exits 2 on it.
var ErrPeerFailed = errors.New("peer failed")

// watchedPeer is a started peer as the run watches it: whether tcplab asked
// it to stop, when it exited.
type watchedPeer struct {
	proc    peerProc
	role    string
	program bool     // the user's program (exec)
	command []string // the program's argv, for the report
	// exitsExpected: exec.exits: expected (it may end by itself).
	exitsExpected bool
	// stderrFile is its stderr's file in the run directory; stderr, for a
	// built-in peer, what it wrote there so far.
	stderrFile string
	stderr     *bytes.Buffer
	stderrMu   *sync.Mutex

	stopAsked atomic.Bool  // tcplab asked it to stop
	timeline  atomic.Bool  // the timeline killed it on purpose
	exitedAt  atomic.Int64 // Monotonic ns when it was seen to exit
	stopWhen  atomic.Bool  // stopAsked was already set when it exited
}

// stop asks the peer to stop: its exit from now on is tcplab's doing. A
// peer already seen to exit is not marked: its exit was its own, whatever
// the watcher goroutine has recorded yet (a program ending itself with
// status 3 just after the deadline, then stopped by the run's end, passed
// the run when the watcher ran after this).
func (w *watchedPeer) stop() {
	select {
	case <-w.proc.Exited():
	default:
		w.stopAsked.Store(true)
	}
	w.proc.Stop()
}

// deadlineIsStop marks a built-in peer past its deadline as asked to stop
// (it was told the deadline), without telling it again: it is flushing.
func (w *watchedPeer) deadlineIsStop() {
	select {
	case <-w.proc.Exited():
	default:
		w.stopAsked.Store(true)
	}
}

// watch stamps the exit and reports it on exits, which has room for every
// peer's.
func (w *watchedPeer) watch(exits chan<- *watchedPeer, done <-chan struct{}) {
	select {
	case <-w.proc.Exited():
		w.exitedAt.Store(tcpinfo.Monotonic())
		w.stopWhen.Store(w.stopAsked.Load())
		exits <- w
	case <-done:
	}
}

// failure says whether and how the peer's exit failed the run (start and
// end: the run's clock and deadline, Monotonic ns). Call it once the
// process has exited.
func (w *watchedPeer) failure(start, end int64, rd *record.Dir) (record.PeerFailure, bool) {
	if w.timeline.Load() {
		return record.PeerFailure{}, false
	}
	st := w.proc.ProcessState()
	// A peer that ends by itself at the run's end (built-in peers keep the
	// deadline too) with status 0 has done what it should; a non-zero status
	// still fails (a client reporting its own failure at the end).
	how, status, sig, failed := classifyExit(w.program, w.exitsExpected, w.stopWhen.Load(), w.exitedAt.Load() >= end, st)
	if !failed {
		return record.PeerFailure{}, false
	}
	f := record.PeerFailure{Side: record.Side(w.role), Program: w.program, How: how, Status: status, Signal: sig,
		AtS: float64(w.exitedAt.Load()-start) / 1e9, StderrFile: w.stderrFile}
	if w.program {
		f.Command = w.command
	}
	if w.stderr != nil {
		w.stderrMu.Lock()
		f.StderrTail = lastLines(w.stderr.Bytes(), stderrTailLines)
		w.stderrMu.Unlock()
	} else if w.stderrFile != "" {
		f.StderrTail = fileTail(rd, w.stderrFile, stderrTailLines)
	}
	return f, true
}

// stderrTailLines is how many of a failed peer's last stderr lines the
// report shows.
const stderrTailLines = 10

// classifyExit decides whether a peer's exit fails the run. stopped: tcplab
// had asked it to stop before it exited; atEnd: it exited at or after the
// run's end.
func classifyExit(program, exitsExpected, stopped, atEnd bool, st *os.ProcessState) (how record.PeerExit, status int, sig string, failed bool) {
	if st == nil {
		return "", 0, "", false
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	signaled := ws.Signaled()
	if signaled {
		sig = signalName(ws.Signal())
	}
	status = st.ExitCode()
	if stopped {
		if program {
			// Whatever a program does with tcplab's SIGTERM (or SIGKILL
			// after the grace period) is its own business.
			return "", status, sig, false
		}
		switch {
		case signaled && ws.Signal() == syscall.SIGKILL:
			return record.ExitNotStopped, 0, sig, true
		case signaled || status != 0:
			return record.ExitAfterStop, max(status, 0), sig, true
		}
		return "", 0, "", false
	}
	switch {
	case signaled:
		return record.ExitSignal, 0, sig, true
	case status != 0:
		return record.ExitStatus, status, "", true
	case atEnd || program && exitsExpected:
		return "", 0, "", false
	}
	return record.ExitEarly, 0, "", true
}

// signalName is SIGTERM, SIGKILL… for a signal.
func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + s.String()
}

// lastLines returns the last n lines of b, each cut to 300 bytes of valid
// UTF-8.
func lastLines(b []byte, n int) []string {
	text := strings.TrimRight(string(b), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		lines[i] = strings.ToValidUTF8(l, string(utf8.RuneError))
	}
	return lines
}

// fileTail reads the last lines of a file of the run directory (its last 8 KiB).
func fileTail(rd *record.Dir, name string, n int) []string {
	f, err := rd.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-8192, 0)
	b, _ := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return lastLines(b, n)
}
