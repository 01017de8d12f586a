package tcpinfo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Ticker is a sampler's clock: a CLOCK_MONOTONIC timerfd waited on by the
// one OS thread that calls Wait. Wait returns at each tick with the ticks
// that passed while the sampler was late (the timerfd counts them), so
// missed ticks are counted, never silently dropped like a time.Ticker's.
// At the first missed tick the thread asks for the lowest real-time
// priority (SCHED_FIFO 1), so a busy peer's own threads cannot hold the
// sampler off its ticks again: on a loaded host it samples like a
// real-time thread, on a quiet one it does not pay a real-time wake's
// cost (about 10 µs more a wake here).
//
// Use it from one goroutine: NewTicker locks that goroutine to its thread
// until Close. A real-time thread that sampled without end would starve the
// peer; the sampler does a bounded round per tick and sleeps in poll
// between them (and the kernel's RT throttling bounds it to 95% anyway).
type Ticker struct {
	timer, stop int
	st          ClockStat
	pfd         [2]unix.PollFd
	buf         [8]byte
	cpu0        int64         // the thread's CPU time at NewTicker
	noRT        bool          // SCHED_FIFO was refused
	watching    chan struct{} // closed when the context watcher is gone
	unwatch     context.CancelFunc
}

// KeepNormalPriority keeps the ticker's thread at normal priority even
// after a missed tick: a watch of a live host must not take CPU from the
// programs it watches (its missed ticks are still counted).
func (t *Ticker) KeepNormalPriority() { t.noRT = true }

// ClockStat is a Ticker's account.
type ClockStat struct {
	// Ticks counts the ticks Wait returned for, Missed the ticks that
	// passed while the sampler was busy or descheduled.
	Ticks, Missed uint64
	// Realtime says the thread went to SCHED_FIFO after a missed tick
	// (false when none was missed, or without CAP_SYS_NICE).
	Realtime bool
	// CPU is the sampler thread's own CPU time from NewTicker to Close
	// (CLOCK_THREAD_CPUTIME_ID, ns): its waking, sampling and writing.
	CPU int64
}

func threadCPU() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

// ErrTickerStopped is Wait's answer once the ticker's context ended.
var ErrTickerStopped = errors.New("ticker stopped")

// NewTicker starts a ticker of period every ns (first tick one period from
// now) on the calling goroutine's thread; Wait returns ErrTickerStopped
// once ctx ends.
func NewTicker(ctx context.Context, every int64) (*Ticker, error) {
	if every <= 0 {
		return nil, fmt.Errorf("ticker period %dns: must be positive", every)
	}
	runtime.LockOSThread()
	t := &Ticker{timer: -1, stop: -1, cpu0: threadCPU()}
	var err error
	if t.timer, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC); err != nil {
		t.Close()
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	if t.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
		t.Close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ts := unix.NsecToTimespec(every)
	spec := unix.ItimerSpec{Interval: ts, Value: ts}
	if err := unix.TimerfdSettime(t.timer, 0, &spec, nil); err != nil {
		t.Close()
		return nil, fmt.Errorf("timerfd_settime: %w", err)
	}
	t.pfd = [2]unix.PollFd{{Fd: int32(t.timer), Events: unix.POLLIN}, {Fd: int32(t.stop), Events: unix.POLLIN}}
	ctx, t.unwatch = context.WithCancel(ctx)
	t.watching = make(chan struct{})
	go func() {
		defer close(t.watching)
		<-ctx.Done()
		one := [8]byte{1}
		unix.Write(t.stop, one[:])
	}()
	return t, nil
}

// Wait blocks until the next tick and returns how many ticks passed since
// the last Wait returned beyond the one it returns for (0 when the sampler
// kept up). Once the context ended it returns ErrTickerStopped. It
// allocates nothing.
func (t *Ticker) Wait() (missed uint64, err error) {
	for {
		t.pfd[0].Revents, t.pfd[1].Revents = 0, 0
		if _, err := unix.Poll(t.pfd[:], -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return 0, fmt.Errorf("poll ticker: %w", err)
		}
		if t.pfd[1].Revents != 0 {
			return 0, ErrTickerStopped
		}
		n, err := unix.Read(t.timer, t.buf[:])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil || n != 8 {
			return 0, fmt.Errorf("read timerfd: %d bytes, %v", n, err)
		}
		exp := binary.NativeEndian.Uint64(t.buf[:])
		if exp == 0 {
			continue
		}
		t.st.Ticks++
		t.st.Missed += exp - 1
		if exp > 1 && !t.st.Realtime && !t.noRT {
			t.st.Realtime = unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}, 0) == nil
			t.noRT = !t.st.Realtime // not permitted: do not ask again
		}
		return exp - 1, nil
	}
}

// Close stops the ticker, releases the timer and unlocks the thread, back
// at its normal priority, and returns the ticker's account. Call it from
// Wait's goroutine, once.
func (t *Ticker) Close() ClockStat {
	if t.unwatch != nil {
		t.unwatch()
		<-t.watching
	}
	t.st.CPU = threadCPU() - t.cpu0
	if t.st.Realtime {
		unix.SchedSetAttr(0, &unix.SchedAttr{Policy: 0}, 0) // back to SCHED_OTHER
	}
	for _, fd := range []*int{&t.timer, &t.stop} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	runtime.UnlockOSThread()
	return t.st
}
