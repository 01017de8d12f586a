package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/tcplab/tcplab/tcpinfo"
)

// backlog holds the production times of messages produced and not yet
// sent: sequence numbers [sent, produced).
type backlog struct {
	times    []int64 // ring
	head     int
	n        int
	produced uint64
}

func (b *backlog) push(t int64) {
	if b.n == len(b.times) {
		grown := make([]int64, max(1024, 2*len(b.times)))
		for i := 0; i < b.n; i++ {
			grown[i] = b.times[(b.head+i)%len(b.times)]
		}
		b.times, b.head = grown, 0
	}
	b.times[(b.head+b.n)%len(b.times)] = t
	b.n++
	b.produced++
}

func (b *backlog) pop() int64 {
	t := b.times[b.head]
	b.head = (b.head + 1) % len(b.times)
	b.n--
	return t
}

// sendSchedule runs the sender's phases. Production follows the current
// rate in time; sending follows the phase: everything produced (rate),
// nothing (pause), or the backlog at the replay rate (replay).
func sendSchedule(ctx context.Context, cfg Config, c *net.TCPConn, fd int, st *Stats, log *eventLog) error {
	size := cfg.MessageSize
	msgsPerSec := func(p Phase) float64 {
		if p.Msgs > 0 {
			return p.Msgs
		}
		return float64(p.Bits) / 8 / float64(size)
	}
	var bl backlog
	buf := make([]byte, 0, sendChunk+size)
	var seq uint64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	now := func() int64 { return tcpinfo.Monotonic() - cfg.Start }

	prodRate := 0.0 // messages/s produced; 0 with a bulk phase
	var prodFrom int64
	var prodBase float64 // messages produced by prodFrom, fraction kept
	exact := func(t int64) float64 { return prodBase + float64(t-prodFrom)/1e9*prodRate }
	produce := func(t int64) {
		if prodRate <= 0 {
			return
		}
		due := uint64(exact(t))
		for bl.produced < due {
			bl.push(t)
		}
	}
	setRate := func(r float64, t int64) {
		produce(t)
		if prodRate > 0 {
			prodBase = exact(t)
		} else {
			prodBase = float64(bl.produced)
		}
		prodRate, prodFrom = r, t
	}
	// Writes wait at most writeSlice, so the loop keeps producing and the
	// policy keeps watching while the socket is full; a chunk cut short
	// stays pending and goes first next time.
	var pending []byte
	flush := func() error {
		c.SetWriteDeadline(time.Now().Add(writeSlice))
		w, err := c.Write(pending)
		st.Bytes += uint64(w)
		st.sawData(w, cfg.Start)
		st.Messages = st.Bytes / uint64(size)
		pending = pending[w:]
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		return nil
	}
	// write sends up to k messages from the backlog (or fresh ones in bulk).
	write := func(k int, fresh bool) error {
		if len(pending) > 0 {
			return flush()
		}
		m := min(k, max(1, sendChunk/size))
		buf = buf[:0]
		t := now()
		for i := 0; i < m; i++ {
			ts := t
			if !fresh {
				ts = bl.pop()
			}
			off := len(buf)
			buf = buf[:off+size]
			PutHeader(buf[off:], uint32(size), seq, ts)
			seq++
		}
		pending = buf
		return flush()
	}
	// The reset policy: a client whose unsent backlog (the application's
	// plus the socket's unsent bytes) stays above the limit for the time
	// is reset (SO_LINGER 0: close sends an RST).
	var over int64 = -1
	var q tcpinfo.Queues
	var rd tcpinfo.Reader
	checkPolicy := func() error {
		pol := cfg.ResetSlowClient
		if pol == nil {
			return nil
		}
		unsent := uint64(bl.n*size + len(pending))
		if rd.ReadQueues(fd, &q) == nil {
			unsent += uint64(q.Unsent)
		}
		t := now()
		if unsent <= pol.BacklogAbove {
			over = -1
			return nil
		}
		if over < 0 {
			over = t
		}
		if time.Duration(t-over) < pol.For {
			return nil
		}
		log.emit(Event{Kind: EventPolicyReset, Detail: fmt.Sprintf("unsent backlog %d B above %d B for %v: reset (RST)", unsent, pol.BacklogAbove, pol.For)})
		st.Dropped = uint64(bl.n) + uint64(len(pending))/uint64(size)
		c.SetLinger(0)
		return errPolicyReset
	}
	step := func(t int64) error {
		produce(t)
		return checkPolicy()
	}
	for i, p := range cfg.Schedule {
		last := i == len(cfg.Schedule)-1
		start := now()
		var end int64 = 1 << 62
		if p.For > 0 && !last {
			end = start + int64(p.For)
		}
		switch p.Kind {
		case PhaseRate:
			setRate(msgsPerSec(p), start)
			for ctx.Err() == nil && now() < end {
				if prodRate == 0 { // bulk: produce what the socket takes
					if err := checkPolicy(); err != nil {
						return err
					}
					if bl.n > 0 {
						if err := write(bl.n, false); err != nil {
							return err
						}
						continue
					}
					if err := write(max(1, sendChunk/size), true); err != nil {
						return err
					}
					bl.produced = seq
					continue
				}
				if err := step(now()); err != nil {
					return err
				}
				if bl.n > 0 {
					if err := write(bl.n, false); err != nil {
						return err
					}
					continue
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		case PhaseOff:
			setRate(0, start)
			end = start + int64(p.For)
			for ctx.Err() == nil && now() < end {
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		case PhaseRamp:
			from := msgsPerSec(p)
			to := msgsPerSec(Phase{Bits: p.ToBits, Msgs: p.ToMsgs})
			end = start + int64(p.For)
			for ctx.Err() == nil {
				t := now()
				if t >= end {
					setRate(to, t)
					break
				}
				// Piecewise constant at the tick: the rate of this millisecond.
				setRate(from+(to-from)*float64(t-start)/float64(p.For), t)
				if bl.n > 0 {
					if err := write(bl.n, false); err != nil {
						return err
					}
					if err := checkPolicy(); err != nil {
						return err
					}
					continue
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		case PhasePause:
			end = start + int64(p.For)
			if p.For == 0 {
				end = 1 << 62
			}
			for ctx.Err() == nil && now() < end {
				if err := step(now()); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		case PhaseReplay:
			r := msgsPerSec(p)
			var sentHere uint64
			for ctx.Err() == nil {
				t := now()
				if err := step(t); err != nil {
					return err
				}
				if bl.n == 0 {
					break
				}
				k := bl.n
				if r > 0 {
					allowed := uint64(float64(t-start)/1e9*r) - sentHere
					k = min(k, int(allowed))
				}
				if k > 0 {
					if err := write(k, false); err != nil {
						return err
					}
					sentHere += uint64(k)
					continue
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	// Past the last phase (a replay that ended): keep producing and sending.
	for ctx.Err() == nil {
		if err := step(now()); err != nil {
			return err
		}
		if bl.n > 0 {
			if err := write(bl.n, false); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	return nil
}
