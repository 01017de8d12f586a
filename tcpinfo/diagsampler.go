package tcpinfo

import (
	"context"
	"fmt"
	"io"
	"time"
)

// FromDiag fills a Sample from a sock_diag socket: the same record as a
// getsockopt sample, with the queues from inet_diag_msg (rqueue = unread;
// wqueue = unacked + unsent).
func (s *Sample) FromDiag(d *DiagSocket) {
	s.Source = SourceSockDiag
	s.Info = d.Info
	s.Mem = d.Mem
	s.Cong = d.Cong
	s.Queues.Unread = d.RQueue
	s.Queues.Unsent = 0
	if d.HasInfo && d.Info.HasNotsent() {
		s.Queues.Unsent = d.Info.NotsentBytes
	}
	s.Queues.Unacked = 0
	if d.WQueue > s.Queues.Unsent {
		s.Queues.Unacked = d.WQueue - s.Queues.Unsent
	}
}

// DiagSampler samples, every Interval, the established TCP sockets of one
// namespace that use Port (locally or remotely), through a DiagConn opened
// in that namespace, and writes them as samples.jsonl lines to W. Each
// socket keeps a connection number (by order of first sight) for the run.
type DiagSampler struct {
	Conn     *DiagConn
	Side     string
	Port     uint16
	Start    int64 // run start on the Monotonic clock
	Interval time.Duration
	W        io.Writer

	ids   map[uint64]int
	lines lineBuffer
	s     Sample
	Count int
	// local/remote text per cookie, made once per connection.
	addrs map[uint64][2]string
}

// Once dumps and writes one round of samples.
func (p *DiagSampler) Once() error {
	if p.ids == nil {
		p.ids, p.addrs = map[uint64]int{}, map[uint64][2]string{}
	}
	p.lines.grow()
	now := Monotonic() - p.Start
	var werr error
	err := p.Conn.Dump(DiagFilter{States: StateEstablished}, func(d *DiagSocket) {
		if p.Port != 0 && d.Src.Port() != p.Port && d.Dst.Port() != p.Port {
			return
		}
		id, ok := p.ids[d.Cookie]
		if !ok {
			id = len(p.ids)
			p.ids[d.Cookie] = id
			p.addrs[d.Cookie] = [2]string{d.Src.String(), d.Dst.String()}
		}
		a := p.addrs[d.Cookie]
		p.s = Sample{T: now, Side: p.Side, Conn: id, Local: a[0], Remote: a[1]}
		p.s.FromDiag(d)
		p.lines.buf = p.s.AppendJSON(p.lines.buf)
		p.Count++
		if p.lines.full() && werr == nil {
			werr = p.Flush()
		}
	})
	if err != nil {
		return fmt.Errorf("sample %s namespace: %w", p.Side, err)
	}
	return werr
}

// Flush writes what is buffered.
func (p *DiagSampler) Flush() error { return p.lines.flush(p.W) }

// Run samples until ctx ends, then flushes.
func (p *DiagSampler) Run(ctx context.Context) error {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if err := p.Once(); err != nil {
			p.Flush()
			return err
		}
		select {
		case <-ctx.Done():
			return p.Flush()
		case <-t.C:
		}
	}
}
