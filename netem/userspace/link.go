package userspace

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcplab/tcplab/netem/impair"
	"golang.org/x/sys/unix"
)

// Link forwards packets between two TUN devices: Down reads the sender's
// TUN and writes the receiver's, Up the reverse.
type Link struct {
	dirs   [2]*direction
	flows  *flowTable
	fds    [2]int // sender TUN, receiver TUN
	stopFD int    // eventfd: readable when the link stops
	wg     sync.WaitGroup
	once   sync.Once
	errMu  sync.Mutex
	err    error

	cap atomic.Pointer[capture]  // nil: no capture
	obs atomic.Pointer[observer] // nil: nobody watches the packets
}

// Observer is told of every packet the link reads, before its fate: the
// packet from its IPv4 header on, whether it came from the sender's side
// (Down) or the receiver's, and when (monotonic ns). It must not keep ip
// and must not block; it is called from both directions' threads.
type Observer interface {
	Observe(ip []byte, fromSender bool, now int64)
}

type observer struct{ o Observer }

// Observe has o told of every packet the link reads from now on (nil: no
// one).
func (l *Link) Observe(o Observer) {
	if o == nil {
		l.obs.Store(nil)
		return
	}
	l.obs.Store(&observer{o})
}

// observe tells the observer, if any, of packet p read by direction dir.
func (l *Link) observe(dir int, p pkt, now int64) {
	if ob := l.obs.Load(); ob != nil {
		ob.o.Observe(p.ip(), dir == Down, now)
	}
}

// Direction indexes.
const (
	Down = 0 // sender → receiver
	Up   = 1 // receiver → sender
)

// Start runs the emulator between the sender's TUN fd and the receiver's
// (both non-blocking, from OpenTUN) with the given impairments. The link
// owns the fds from now on and closes them in Stop.
func Start(senderFD, receiverFD int, down, up impair.Impairment) (*Link, error) {
	for _, im := range []impair.Impairment{down, up} {
		if err := im.Validate(); err != nil {
			return nil, err
		}
	}
	reserveProcs()
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &Link{fds: [2]int{senderFD, receiverFD}, stopFD: stop, flows: newFlowTable()}
	names := [2]string{string(impair.Down), string(impair.Up)}
	ims := [2]impair.Impairment{down, up}
	type clocks struct{ wake, timer int }
	var cl [2]clocks
	for i := range l.dirs {
		wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("eventfd: %w", err), l.closeFDs())
		}
		timer, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK)
		if err != nil {
			unix.Close(wake)
			return nil, errors.Join(fmt.Errorf("timerfd: %w", err), l.closeFDs())
		}
		cl[i] = clocks{wake, timer}
		d := &direction{name: names[i], idx: i, back: l.fds[i], flows: l.flows}
		d.wake = func() { signal(wake) }
		d.set(ims[i])
		l.dirs[i] = d
	}
	for i := range l.dirs {
		in, out := l.fds[i], l.fds[1-i]
		l.wg.Add(2)
		go l.reader(l.dirs[i], in)
		go l.releaser(l.dirs[i], out, cl[i].wake, cl[i].timer)
	}
	return l, nil
}

// reserveProcs raises GOMAXPROCS so that each of the link's four locked
// threads finds a free P when its system call returns. With GOMAXPROCS = 2
// (these machines) a thread returning from poll waited for a P behind the
// other threads: 2–3% of packets were released 2–20 ms late (measured: σ of
// a 5 ms uniform jitter read 3.08 ms instead of 2.89). The extra Ps cost
// nothing while idle; the OS still schedules the threads on the real cores.
func reserveProcs() {
	want := runtime.NumCPU() + 4
	if runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}

func signal(fd int) {
	var one = [8]byte{1}
	unix.Write(fd, one[:])
}

func drain(fd int) {
	var b [8]byte
	unix.Read(fd, b[:])
}

func (l *Link) fail(err error) {
	l.errMu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.errMu.Unlock()
}

// Set changes one direction's impairment while the link runs; packets
// already queued keep their schedule.
func (l *Link) Set(dir int, im impair.Impairment) error {
	if err := im.Validate(); err != nil {
		return err
	}
	l.dirs[dir].set(im)
	return nil
}

// SetMiddlebox puts a stateful middlebox (NAT, firewall) on the link, or
// with the zero Middlebox takes it away. Flows it already forgot stay
// forgotten.
func (l *Link) SetMiddlebox(m Middlebox) { l.flows.setMiddlebox(m) }

// Expiries returns the flows the middlebox has forgotten so far (at most
// 4096), marking first every flow idle past its timeout, also one nothing
// crosses any more.
func (l *Link) Expiries() []Expiry { return l.flows.sweep(monotonic(), nil) }

// Refusals returns, for each direction of each flow the middlebox forgot,
// the first packet it then dropped or answered with an RST (at most 4096).
func (l *Link) Refusals() []Refusal { return l.flows.refusals(nil) }

// Impairment returns a direction's current impairment.
func (l *Link) Impairment(dir int) impair.Impairment {
	d := l.dirs[dir]
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.im
}

// Stats is a direction's counters and release lateness.
type Stats struct {
	Counters
	LatenessP50 time.Duration `json:"lateness_p50_ns"`
	LatenessP99 time.Duration `json:"lateness_p99_ns"`
	LatenessMax time.Duration `json:"lateness_max_ns"`
}

// Stats returns a direction's counters so far.
func (l *Link) Stats(dir int) Stats {
	c, p50, p99, max := l.dirs[dir].snapshot()
	return Stats{c, p50, p99, max}
}

// Stop ends forwarding, waits for the threads and closes the TUN fds (the
// devices disappear with them). It returns the first I/O error the link met.
func (l *Link) Stop() error {
	l.once.Do(func() {
		signal(l.stopFD)
		l.wg.Wait()
		l.closeFDs()
	})
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if c := l.cap.Load(); c != nil && c.err != nil && l.err == nil {
		return fmt.Errorf("write capture: %w", c.err)
	}
	return l.err
}

func (l *Link) closeFDs() error {
	var errs []error
	for _, fd := range l.fds {
		if fd >= 0 {
			errs = append(errs, unix.Close(fd))
		}
	}
	l.fds = [2]int{-1, -1}
	return errors.Join(errs...)
}

// reader reads packets from in and hands them to d, on its own OS thread.
func (l *Link) reader(d *direction, in int) {
	defer l.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}, {Fd: int32(l.stopFD), Events: unix.POLLIN}}
	var spare slot // read target when the direction holds its maximum
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			l.fail(fmt.Errorf("poll %s TUN: %w", d.name, err))
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		for {
			d.mu.Lock()
			s := d.getSlot()
			d.mu.Unlock()
			target := s
			if target == nil {
				target = &spare
			}
			n, err := unix.Read(in, target.buf[:])
			if err != nil || n <= vnetHdrLen {
				if s != nil {
					d.mu.Lock()
					d.putSlot(s)
					d.mu.Unlock()
				}
				if err == unix.EAGAIN || err == unix.EINTR || err == nil {
					break
				}
				l.fail(fmt.Errorf("read %s TUN: %w", d.name, err))
				return
			}
			now := monotonic()
			l.observe(d.idx, pkt(target.buf[:n]), now)
			if s == nil {
				d.mu.Lock()
				d.c.Packets++
				d.c.DropQueue += uint64(parse(pkt(spare.buf[:n])).segments)
				d.mu.Unlock()
				continue
			}
			s.n = n
			d.handle(s, now)
		}
	}
}

// releaser writes each queued packet to out at its departure time, on its
// own OS thread sleeping on a timerfd.
func (l *Link) releaser(d *direction, out, wake, timer int) {
	defer l.wg.Done()
	defer unix.Close(wake)
	defer unix.Close(timer)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fds := []unix.PollFd{{Fd: int32(wake), Events: unix.POLLIN}, {Fd: int32(timer), Events: unix.POLLIN}, {Fd: int32(l.stopFD), Events: unix.POLLIN}}
	batch := make([]*slot, 0, 256)
	var its unix.ItimerSpec
	for {
		var next int64
		batch, next = d.due(monotonic(), batch[:0])
		cp := l.cap.Load()
		for _, s := range batch {
			// Lateness is taken when the packet is handed to the kernel:
			// the write itself runs the receiving stack (netif_rx and the
			// softirq on return), which is the far end's work, not the link's.
			released := monotonic()
			_, err := unix.Write(out, s.buf[:s.n])
			if cp != nil && err == nil {
				cp.write(s.buf[vnetHdrLen:s.n])
			}
			d.sent(s, released, err)
		}
		if len(batch) > 0 {
			continue
		}
		timeout := -1
		if next > 0 {
			its.Value = unix.NsecToTimespec(next)
			if err := unix.TimerfdSettime(timer, unix.TFD_TIMER_ABSTIME, &its, nil); err != nil {
				l.fail(fmt.Errorf("arm %s release timer: %w", d.name, err))
				return
			}
		}
		if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
			l.fail(fmt.Errorf("poll %s release: %w", d.name, err))
			return
		}
		if fds[2].Revents != 0 {
			return
		}
		if fds[0].Revents != 0 {
			drain(wake)
		}
		if fds[1].Revents != 0 {
			drain(timer)
		}
	}
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
