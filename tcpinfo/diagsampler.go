package tcpinfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
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

	// IDs, when set, numbers the connections together with the sampler
	// of the other end's namespace (nil: by this sampler's first sight).
	IDs *ConnIDs
	// Destroyed, when set, adds each socket's last sample as the kernel
	// destroys it: a connection shorter than Interval is sampled too.
	Destroyed *DestroyWatch

	// Clock is the sampler's clock account once Run has returned.
	Clock ClockStat

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
	sample := func(d *DiagSocket) {
		if p.Port != 0 && d.Src.Port() != p.Port && d.Dst.Port() != p.Port {
			return
		}
		id, ok := p.ids[d.Cookie]
		if !ok {
			id = len(p.ids)
			if p.IDs != nil {
				id = p.IDs.id(p.Side, d.Src, d.Dst)
			}
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
	}
	err := p.Conn.Dump(DiagFilter{States: StateEstablished}, sample)
	if err != nil {
		return fmt.Errorf("sample %s namespace: %w", p.Side, err)
	}
	if p.Destroyed != nil {
		err = p.Destroyed.Drain(func(d *DiagSocket) {
			if d.Dst.Port() == 0 {
				return // a listener
			}
			sample(d)
			if p.IDs != nil { // gone: a new socket on the same addresses is a new connection
				delete(p.ids, d.Cookie)
				delete(p.addrs, d.Cookie)
			}
		})
		if err != nil {
			return fmt.Errorf("sample %s namespace: %w", p.Side, err)
		}
	}
	return werr
}

// ConnIDs numbers connections across the samplers of a lab's two
// namespaces: the two sockets of one connection (the same addresses seen
// from each end) get the same number, in the order either end first saw it.
type ConnIDs struct {
	mu      sync.Mutex
	next    int
	byTuple map[[2]netip.AddrPort]*connID
}

type connID struct {
	id      int
	claimed map[string]bool // by side
}

// id is the number of the connection between a and b for side's socket: the
// other side's number if it saw it first and has not been given it to
// another socket of this side, else a new one.
func (c *ConnIDs) id(side string, a, b netip.AddrPort) int {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	k := [2]netip.AddrPort{a, b}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byTuple == nil {
		c.byTuple = map[[2]netip.AddrPort]*connID{}
	}
	if e := c.byTuple[k]; e != nil && !e.claimed[side] {
		e.claimed[side] = true
		return e.id
	}
	e := &connID{id: c.next, claimed: map[string]bool{side: true}}
	c.next++
	c.byTuple[k] = e
	return e.id
}

// Flush writes what is buffered.
func (p *DiagSampler) Flush() error { return p.lines.flush(p.W) }

// Run samples until ctx ends, then flushes. Its clock is a Ticker (a
// timerfd on a thread that turns real-time at its first missed tick).
func (p *DiagSampler) Run(ctx context.Context) error {
	t, err := NewTicker(ctx, int64(p.Interval))
	if err != nil {
		return fmt.Errorf("sample %s namespace: %w", p.Side, err)
	}
	defer func() { p.Clock = t.Close() }()
	for {
		if err := p.Once(); err != nil {
			p.Flush()
			return err
		}
		if _, err := t.Wait(); err != nil {
			if !errors.Is(err, ErrTickerStopped) {
				p.Flush()
				return fmt.Errorf("sample %s namespace: %w", p.Side, err)
			}
			if p.Destroyed != nil {
				// The sockets closed at the run's end: their last samples.
				if err := p.Once(); err != nil {
					p.Flush()
					return err
				}
			}
			return p.Flush()
		}
	}
}
