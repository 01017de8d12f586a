package tcpinfo

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// Monotonic returns CLOCK_MONOTONIC in nanoseconds. It is one clock for every
// process on the host, so samples and events from the sender's and the
// receiver's processes share a time axis.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Sample is one reading of one socket: one line of samples.jsonl.
type Sample struct {
	// T is nanoseconds since the run's start on the monotonic clock.
	T int64 `json:"t"`
	// Side is "sender" or "receiver".
	Side string `json:"side"`
	// Conn numbers the connection within its side, from 0.
	Conn int `json:"conn"`
	// Source is how the sample was taken: "getsockopt" (the peer's own
	// socket) or "sock_diag" (any socket of the namespace, read by tcplab).
	Source string  `json:"source"`
	Info   Info    `json:"tcp_info"`
	Queues Queues  `json:"queues"`
	Mem    MemInfo `json:"mem"`
	// Cong is the congestion control (sock_diag samples).
	Cong string `json:"cong,omitempty"`
	// Local and Remote are the socket's addresses (sock_diag samples).
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
}

// Sources of samples.
const (
	SourceGetsockopt = "getsockopt"
	SourceSockDiag   = "sock_diag"
)

// AppendJSON appends s as one JSON line (with the newline). It allocates
// nothing when dst has room.
func (s *Sample) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"t":`...)
	dst = appendInt(dst, s.T)
	dst = append(dst, `,"side":"`...)
	dst = append(dst, s.Side...)
	dst = append(dst, `","conn":`...)
	dst = appendInt(dst, int64(s.Conn))
	dst = append(dst, `,"source":"`...)
	dst = append(dst, s.Source...)
	dst = append(dst, '"')
	if s.Cong != "" {
		dst = append(dst, `,"cong":"`...)
		dst = append(dst, s.Cong...)
		dst = append(dst, '"')
	}
	if s.Local != "" {
		dst = append(dst, `,"local":"`...)
		dst = append(dst, s.Local...)
		dst = append(dst, `","remote":"`...)
		dst = append(dst, s.Remote...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"tcp_info":`...)
	dst = s.Info.AppendJSON(dst)
	q := &s.Queues
	dst = append(dst, `,"queues":{"unread":`...)
	dst = appendUint(dst, uint64(q.Unread))
	dst = append(dst, `,"unacked_bytes":`...)
	dst = appendUint(dst, uint64(q.Unacked))
	dst = append(dst, `,"unsent":`...)
	dst = appendUint(dst, uint64(q.Unsent))
	m := &s.Mem
	dst = append(dst, `},"mem":{`...)
	vals := [MemInfoCount]uint32{m.RmemAlloc, m.Rcvbuf, m.WmemAlloc, m.Sndbuf, m.FwdAlloc, m.WmemQueued, m.Optmem, m.Backlog, m.Drops}
	for k, name := range memNames {
		dst = appendKey(dst, k == 0, name)
		dst = appendUint(dst, uint64(vals[k]))
	}
	return append(dst, '}', '}', '\n')
}

var memNames = [MemInfoCount]string{"rmem_alloc", "rcvbuf", "wmem_alloc", "sndbuf", "fwd_alloc", "wmem_queued", "optmem", "backlog", "drops"}

// Read fills s from the socket fd: tcp_info, queues and memory. The caller
// sets T, Side and Conn.
func (r *Reader) Read(fd int, s *Sample) error {
	if err := r.ReadInfo(fd, &s.Info); err != nil {
		return err
	}
	if err := r.ReadQueues(fd, &s.Queues); err != nil {
		return err
	}
	return r.ReadMem(fd, &s.Mem)
}

// lineBuffer collects JSON lines and writes them in batches of about
// flushAt bytes, so that concurrent writers appending to one O_APPEND file
// never interleave inside a line.
type lineBuffer struct {
	buf []byte
}

func (l *lineBuffer) grow() {
	if l.buf == nil {
		l.buf = make([]byte, 0, flushAt+4096)
	}
}

func (l *lineBuffer) full() bool { return len(l.buf) >= flushAt }

func (l *lineBuffer) flush(w io.Writer) error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := w.Write(l.buf)
	l.buf = l.buf[:0]
	if err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	return nil
}

// flushAt is the buffer fill at which the sampler writes to W.
const flushAt = 60 << 10
