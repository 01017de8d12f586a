package peers

import (
	"encoding/json"
	"io"
	"sync"
	"syscall"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// The run directory's records are record's types; these names keep the
// peers' code short.
type (
	Event           = record.Event
	LagPoint        = record.LagPoint
	EffectiveSocket = record.EffectiveSocket
	Stats           = record.Stats
)

// Event kinds (record's).
const (
	EventListening        = record.EventListening
	EventConnected        = record.EventConnected
	EventSocket           = record.EventSocket
	EventClosed           = record.EventClosed
	EventError            = record.EventError
	EventStats            = record.EventStats
	EventTimeline         = record.EventTimeline
	EventPolicyReset      = record.EventPolicyReset
	EventTotal            = record.EventTotal
	EventRefuse           = record.EventRefuse
	EventLag              = record.EventLag
	EventConnecting       = record.EventConnecting
	EventConnectFailed    = record.EventConnectFailed
	EventMiddlebox        = record.EventMiddlebox
	EventMiddleboxRefused = record.EventMiddleboxRefused
)

// addCost records the process's CPU time and peak memory so far.
func addCost(s *Stats) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return
	}
	s.CPUUserS = float64(ru.Utime.Nano()) / 1e9
	s.CPUSysS = float64(ru.Stime.Nano()) / 1e9
	s.MaxRSSKiB = ru.Maxrss
}

// sawData records that n bytes moved now.
func sawData(s *Stats, n int, start int64) {
	if n <= 0 {
		return
	}
	t := tcpinfo.Monotonic() - start
	if s.FirstDataNs == 0 {
		s.FirstDataNs = t
	}
	s.LastDataNs = t
}

type eventLog struct {
	mu    sync.Mutex
	w     io.Writer
	side  string
	start int64
}

func (l *eventLog) setStart(t int64) {
	l.mu.Lock()
	l.start = t
	l.mu.Unlock()
}

func (l *eventLog) emit(e Event) {
	l.mu.Lock()
	start := l.start
	l.mu.Unlock()
	if e.T == 0 {
		e.T = tcpinfo.Monotonic() - start
	}
	e.Side = record.Side(l.side)
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
}
