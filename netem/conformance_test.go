package netem

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/tcpinfo"
)

// The conformance suite states each impairment's meaning once and checks it
// against every backend this machine has: the userspace link always (as
// root), the kernel's netem where a probe adds a netem qdisc (the netem VM
// test runs this suite inside a kernel that has it).

func backends(t *testing.T) []Backend {
	labtest.RequireRoot(t)
	out := []Backend{Userspace}
	if err := HaveQdisc("netem"); err == nil {
		out = append(out, Kernel)
	} else if where := labtest.KernelHasNetem(); where != "" {
		t.Fatalf("this kernel has sch_netem (%s), but the probe says: %v", where, err)
	} else {
		t.Logf("kernel netem backend not tested here: %v", err)
	}
	if only := os.Getenv("TCPLAB_CONFORMANCE_BACKEND"); only != "" {
		out = []Backend{Backend(only)}
	}
	return out
}

func lab(t *testing.T, backend Backend, down, up impair.Impairment) *Topology {
	t.Helper()
	topo, err := Build(Config{Backend: backend, Down: down, Up: up})
	if err != nil {
		t.Fatal(err)
	}
	id := topo.RunID
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
		assertNoLeftovers(t, id)
	})
	return topo
}

// udpProbe is one datagram's fate.
type udpProbe struct {
	seq       uint64
	sent, got int64 // monotonic ns; got 0 when lost
	count     int   // times received (duplicates)
}

// udpFlow sends n datagrams of size bytes from the sender's namespace to
// the receiver's at pps, and returns what arrived, after waiting drain for
// stragglers. during, if set, runs after half the datagrams are sent.
func udpFlow(t *testing.T, topo *Topology, n, pps, size int, drain time.Duration, during func()) []udpProbe {
	t.Helper()
	if size < 16 {
		size = 16
	}
	var rc, sc *net.UDPConn
	raddr := &net.UDPAddr{IP: net.IP(topo.Receiver.Addr.Addr().AsSlice()), Port: 7000}
	if err := Do(topo.Receiver.NS, func() (err error) {
		rc, err = net.ListenUDP("udp4", raddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.SetReadBuffer(8 << 20)
	if err := Do(topo.Sender.NS, func() (err error) {
		sc, err = net.DialUDP("udp4", nil, raddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	probes := make([]udpProbe, n)
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			k, err := rc.Read(buf)
			if err != nil {
				return
			}
			now := tcpinfo.Monotonic()
			if k < 16 {
				continue
			}
			seq := binary.LittleEndian.Uint64(buf)
			if seq >= uint64(n) {
				continue
			}
			mu.Lock()
			p := &probes[seq]
			p.count++
			if p.got == 0 {
				p.got = now
			}
			mu.Unlock()
		}
	}()
	msg := make([]byte, size)
	start := time.Now()
	for i := 0; i < n; i++ {
		if i == n/2 && during != nil {
			during()
		}
		// Pace: datagram i leaves at start + i/pps.
		if d := time.Until(start.Add(time.Duration(float64(i) / float64(pps) * float64(time.Second)))); d > 200*time.Microsecond {
			time.Sleep(d)
		}
		now := tcpinfo.Monotonic()
		binary.LittleEndian.PutUint64(msg, uint64(i))
		binary.LittleEndian.PutUint64(msg[8:], uint64(now))
		mu.Lock()
		probes[i].seq, probes[i].sent = uint64(i), now
		mu.Unlock()
		if _, err := sc.Write(msg); err != nil && !errors.Is(err, unix.ECONNREFUSED) {
			t.Fatalf("send datagram %d: %v", i, err)
		}
	}
	time.Sleep(drain)
	rc.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return append([]udpProbe(nil), probes...)
}

// binomialBound is the 99% two-sided bound on a fraction's deviation from p
// over n trials.
func binomialBound(p float64, n int) float64 {
	return 2.576*math.Sqrt(p*(1-p)/float64(n)) + 1/float64(n)
}

func checkFraction(t *testing.T, what string, got, n int, p float64) {
	t.Helper()
	f := float64(got) / float64(n)
	b := binomialBound(p, n)
	if emulated {
		// The kernel under TCG seeds its own PRNG (no TCA_NETEM_PRNG_SEED
		// in Debian's 6.1), so its draws are random per boot, and the
		// emulator's stalls add reordering of their own: the guest uses the
		// 99.9% bound (measured: reorder 10.60% of 20,000 against 10 ± 0.55).
		b = 3.29*math.Sqrt(p*(1-p)/float64(n)) + 1/float64(n)
	}
	t.Logf("%s: %d of %d = %.4f%%, configured %.4f%%, bound ±%.4f%%", what, got, n, 100*f, 100*p, 100*b)
	if math.Abs(f-p) > b {
		t.Errorf("%s: %.4f%% is outside %.4f%% ± %.4f%%", what, 100*f, 100*p, 100*b)
	}
}

func meanStd(xs []float64) (float64, float64) {
	var s, s2 float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		s2 += (x - m) * (x - m)
	}
	return m, math.Sqrt(s2 / float64(len(xs)-1))
}

// tcpPair connects a TCP socket in the sender's namespace to one in the
// receiver's.
func tcpPair(t *testing.T, topo *Topology) (snd, rcv *net.TCPConn) {
	t.Helper()
	var ln net.Listener
	if err := Do(topo.Receiver.NS, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(topo.Receiver.Addr.Addr().String(), "5001"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	var c net.Conn
	if err := Do(topo.Sender.NS, func() (err error) {
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); r.Close() })
	return c.(*net.TCPConn), r.(*net.TCPConn)
}

func tcpInfoOf(t *testing.T, c *net.TCPConn) tcpinfo.Info {
	rc, _ := c.SyscallConn()
	var in tcpinfo.Info
	var r tcpinfo.Reader
	var err error
	rc.Control(func(fd uintptr) { err = r.ReadInfo(int(fd), &in) })
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// baseline is what the unimpaired path itself adds: its RTT and the
// one-way delay's mean and σ for datagrams. Under emulation (the netem VM)
// these are not negligible; the suite compares each impairment with the
// configuration on top of them.
type baseline struct {
	rttUS                      float64
	owdMin, owdMean, owdStdDev float64 // ms
}

var baselines = map[Backend]baseline{}

// emulated is set (TCPLAB_CONFORMANCE_EMULATED=1) when the suite runs inside
// a machine emulator (the netem VM under TCG), whose timers fire up to about
// a millisecond late and which stalls for tens of milliseconds now and then.
// There, time checks get emulatorSlack more tolerance, so that the emulated
// machine's timing is not blamed on netem.
var emulated = os.Getenv("TCPLAB_CONFORMANCE_EMULATED") == "1"

// emulatorSlack and emulatorSigmaTol loosen the time checks on an emulated
// machine: measured in the netem VM, the guest's delays sat 1–3 ms above the
// configuration on a busy run (min_rtt +1.1 ms, jitter median +2.3 ms) and
// the robust σ up to 20% above, while loss, duplication, reordering,
// corruption, partitions and Gilbert-Elliott bursts matched within the
// normal bounds. Time fidelity is proven on real machines (the host runs
// the same table with the plain tolerances against the userspace link).
const (
	emulatorSlack    = 4000.0 // µs
	emulatorSigmaTol = 0.25
)

func sigmaTol() float64 {
	if emulated {
		return emulatorSigmaTol
	}
	return 0.10
}

func slackUS() float64 {
	if emulated {
		return emulatorSlack
	}
	return 0
}

func measureBaseline(t *testing.T, b Backend) baseline {
	if bl, ok := baselines[b]; ok {
		return bl
	}
	topo := lab(t, b, impair.Impairment{}, impair.Impairment{})
	snd, rcv := tcpPair(t, topo)
	go io.Copy(io.Discard, rcv)
	buf := make([]byte, 64<<10)
	for i := 0; i < 16; i++ {
		snd.Write(buf)
	}
	in := tcpInfoOf(t, snd)
	ps := udpFlow(t, topo, 1000, 1000, 64, 100*time.Millisecond, nil)
	var d []float64
	for _, p := range ps {
		if p.got != 0 {
			d = append(d, float64(p.got-p.sent)/1e6)
		}
	}
	m, sd := meanStd(d)
	sort.Float64s(d)
	bl := baseline{rttUS: float64(in.MinRTT), owdMin: d[0], owdMean: m, owdStdDev: sd}
	t.Logf("%s baseline of the unimpaired path: min_rtt %.0f µs, one-way delay %.3f ± %.3f ms", b, bl.rttUS, m, sd)
	baselines[b] = bl
	return bl
}

func TestConformance(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(string(b), func(t *testing.T) {
			measureBaseline(t, b)
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, b) })
			}
		})
	}
}

type conformanceCase struct {
	name string
	run  func(t *testing.T, backend Backend)
}

var conformanceCases = []conformanceCase{
	{"rtt 50ms", func(t *testing.T, b Backend) {
		im := impair.Impairment{Delay: 25 * time.Millisecond}
		topo := lab(t, b, im, im)
		snd, rcv := tcpPair(t, topo)
		go io.Copy(io.Discard, rcv)
		buf := make([]byte, 256<<10)
		for i := 0; i < 8; i++ {
			snd.Write(buf)
		}
		in := tcpInfoOf(t, snd)
		want := 50000.0 + baselines[b].rttUS // µs
		tol := math.Max(0.02*50000, 300) + slackUS()
		t.Logf("min_rtt %d µs, srtt %d µs (want %.0f ± %.0f)", in.MinRTT, in.RTT, want, tol)
		if math.Abs(float64(in.MinRTT)-want) > tol {
			t.Errorf("min_rtt %d µs, want %.0f ± %.0f", in.MinRTT, want, tol)
		}
		// And from datagrams: the one-way delay is 25 ms.
		ps := udpFlow(t, topo, 200, 1000, 64, 200*time.Millisecond, nil)
		var d []float64
		for _, p := range ps {
			if p.got != 0 {
				d = append(d, float64(p.got-p.sent)/1e6)
			}
		}
		sort.Float64s(d)
		if want := 25 + baselines[b].owdMin; len(d) < 190 || math.Abs(d[0]-want) > 0.5+slackUS()/1000 {
			t.Errorf("one-way delay: %d of 200 arrived, min %.3f ms, want %.3f ± 0.5", len(d), d[0], want)
		}
	}},
	{"loss 1%", func(t *testing.T, b Backend) {
		topo := lab(t, b, impair.Impairment{Loss: 0.01, Seed: 7}, impair.Impairment{})
		const n = 60000
		ps := udpFlow(t, topo, n, 30000, 64, 300*time.Millisecond, nil)
		lost := 0
		for _, p := range ps {
			if p.count == 0 {
				lost++
			}
		}
		checkFraction(t, "datagrams lost", lost, n, 0.01)
	}},
	{"rate 20mbit", func(t *testing.T, b Backend) {
		topo := lab(t, b, impair.Impairment{RateBits: 20e6}, impair.Impairment{})
		snd, rcv := tcpPair(t, topo)
		var mu sync.Mutex
		var total int64
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := rcv.Read(buf)
				mu.Lock()
				total += int64(n)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		stop := make(chan struct{})
		go func() {
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				snd.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := snd.Write(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
		}()
		defer close(stop)
		time.Sleep(time.Second) // past slow start
		mu.Lock()
		a, ta := total, time.Now()
		mu.Unlock()
		time.Sleep(3 * time.Second)
		mu.Lock()
		z, tz := total, time.Now()
		mu.Unlock()
		rate := float64(z-a) * 8 / tz.Sub(ta).Seconds()
		ratio := rate / 20e6
		t.Logf("goodput %.2f Mbit/s = %.1f%% of 20 Mbit/s", rate/1e6, 100*ratio)
		if ratio < 0.93 || ratio > 1.0 {
			t.Errorf("goodput %.1f%% of the rate, want 93–100%%", 100*ratio)
		}
	}},
	{"jitter normal", func(t *testing.T, b Backend) { jitterCase(t, b, impair.Normal) }},
	{"jitter uniform", func(t *testing.T, b Backend) { jitterCase(t, b, impair.Uniform) }},
	{"duplicate 1%", func(t *testing.T, b Backend) {
		topo := lab(t, b, impair.Impairment{Duplicate: 0.01, Seed: 3}, impair.Impairment{})
		const n = 30000
		ps := udpFlow(t, topo, n, 30000, 64, 300*time.Millisecond, nil)
		dups := 0
		for _, p := range ps {
			if p.count > 1 {
				dups += p.count - 1
			}
		}
		checkFraction(t, "datagrams duplicated", dups, n, 0.01)
	}},
	{"reorder 10%", func(t *testing.T, b Backend) {
		im := impair.Impairment{Delay: 10 * time.Millisecond, Reorder: &impair.Reorder{Probability: 0.10, Gap: 1}, Seed: 5}
		topo := lab(t, b, im, impair.Impairment{})
		const n = 20000
		ps := udpFlow(t, topo, n, 20000, 64, 300*time.Millisecond, nil)
		// A reordered datagram overtakes the delayed ones sent before it;
		// delayed ones keep their order (same delay), also when the whole
		// machine stalls (as an emulated one does), so counting overtakers
		// is robust where a delay threshold is not.
		early, got := 0, 0
		var latest int64
		for _, p := range ps {
			if p.got == 0 {
				continue
			}
			got++
			if p.got < latest {
				early++
			}
			if p.got > latest {
				latest = p.got
			}
		}
		checkFraction(t, "datagrams reordered (sent without the delay)", early, got, 0.10)
	}},
	{"corrupt 1%", func(t *testing.T, b Backend) {
		topo := lab(t, b, impair.Impairment{Corrupt: 0.01, Seed: 11}, impair.Impairment{})
		const n = 30000
		before, _ := NetStat(&topo.Receiver)
		ps := udpFlow(t, topo, n, 30000, 256, 300*time.Millisecond, nil)
		after, _ := NetStat(&topo.Receiver)
		lost := 0
		for _, p := range ps {
			if p.count == 0 {
				lost++ // a corrupted datagram fails the UDP (or IP header) checksum
			}
		}
		// Datagrams dropped at the receiver's full socket buffer (a stalled
		// reader: the emulated VM) are not corruption.
		if overflow := int(after["UdpRcvbufErrors"] - before["UdpRcvbufErrors"]); overflow > 0 {
			t.Logf("%d datagrams dropped at the receiver's full socket buffer, not counted as corrupted", overflow)
			lost -= overflow
		}
		checkFraction(t, "datagrams corrupted (dropped by the receiver's checksum)", lost, n, 0.01)
	}},
	{"partition and heal", func(t *testing.T, b Backend) {
		topo := lab(t, b, impair.Impairment{}, impair.Impairment{})
		snd, rcv := tcpPair(t, topo)
		var cut, healed int64
		ps := udpFlow(t, topo, 3000, 1000, 64, 300*time.Millisecond, func() {
			cut = tcpinfo.Monotonic()
			if err := topo.SetImpairment(Down, impair.Impairment{Blackhole: true}); err != nil {
				t.Error(err)
			}
			topo.SetImpairment(Up, impair.Impairment{Blackhole: true})
			time.AfterFunc(time.Second, func() {
				healed = tcpinfo.Monotonic()
				topo.SetImpairment(Down, impair.Impairment{})
				topo.SetImpairment(Up, impair.Impairment{})
			})
		})
		crossed, after := 0, 0
		for _, p := range ps {
			if p.got == 0 {
				continue
			}
			if p.sent > cut+int64(time.Millisecond) && p.sent < healed-int64(time.Millisecond) {
				crossed++
			}
			if p.sent > healed+int64(10*time.Millisecond) {
				after++
			}
		}
		t.Logf("during the partition %d datagrams crossed; after it healed %d arrived", crossed, after)
		if crossed != 0 {
			t.Errorf("%d datagrams crossed a partition", crossed)
		}
		if after < 300 {
			t.Errorf("only %d datagrams arrived after the partition healed", after)
		}
		// The TCP connection made before the partition still carries data.
		msg := []byte("after the partition")
		if _, err := snd.Write(msg); err != nil {
			t.Fatal(err)
		}
		rcv.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(rcv, got); err != nil || string(got) != string(msg) {
			t.Errorf("TCP after the partition: %q, %v", got, err)
		}
	}},
	{"gilbert-elliott", func(t *testing.T, b Backend) {
		ge := &impair.GilbertElliott{P: 0.01, R: 0.2, OneMinusH: 1, OneMinusK: 0}
		topo := lab(t, b, impair.Impairment{GE: ge, Seed: 13}, impair.Impairment{})
		const n = 60000
		ps := udpFlow(t, topo, n, 30000, 64, 300*time.Millisecond, nil)
		var bursts []float64
		run := 0
		for _, p := range ps {
			if p.count == 0 {
				run++
				continue
			}
			if run > 0 {
				bursts = append(bursts, float64(run))
			}
			run = 0
		}
		if len(bursts) < 100 {
			t.Fatalf("only %d loss bursts", len(bursts))
		}
		m, _ := meanStd(bursts)
		t.Logf("%d loss bursts, mean length %.2f, want 1/r = %.2f ± 10%%", len(bursts), m, 1/ge.R)
		if math.Abs(m-1/ge.R) > 0.1/ge.R {
			t.Errorf("mean loss burst %.2f, want %.2f ± 10%%", m, 1/ge.R)
		}
	}},
}

func jitterCase(t *testing.T, b Backend, dist impair.Distribution) {
	j := 5 * time.Millisecond
	topo := lab(t, b, impair.Impairment{Delay: 20 * time.Millisecond, Jitter: j, Distribution: dist, Seed: 17}, impair.Impairment{})
	ps := udpFlow(t, topo, 3000, 1000, 64, 300*time.Millisecond, nil)
	var d []float64
	for _, p := range ps {
		if p.got != 0 {
			d = append(d, float64(p.got-p.sent)/1e6)
		}
	}
	m, raw := meanStd(d)
	sort.Float64s(d)
	t.Logf("one-way delay percentiles: min %.3f p1 %.3f p50 %.3f p99 %.3f max %.3f ms", d[0], d[len(d)/100], d[len(d)/2], d[len(d)*99/100], d[len(d)-1])
	// σ is estimated from the interquartile range, scaled by the
	// distribution's own IQR/σ ratio. The plain sample σ is logged too: on
	// these (virtual) machines a few packets per thousand are held 10–25 ms
	// by scheduling stalls of the whole machine — the kernel's netem is
	// subject to them as well — and those few outliers alone move the plain
	// σ by 10–20%. The median replaces the mean for the same reason.
	bl := baselines[b]
	plain := math.Sqrt(math.Max(0, raw*raw-bl.owdStdDev*bl.owdStdDev))
	iqr := d[len(d)*3/4] - d[len(d)/4]
	unit := (impair.Jitter(dist, 3<<30, 1) - impair.Jitter(dist, 1<<30, 1)) / impair.Std(dist, 1)
	s := iqr / unit
	want := impair.Std(dist, float64(j)/1e6)
	tol := sigmaTol()
	t.Logf("%s jitter: %d datagrams, median one-way delay %.3f ms (mean %.3f), σ %.3f ms from the IQR (plain sample σ %.3f, less the path's own %.3f: %.3f); want %.3f ± %.0f%%",
		dist, len(d), d[len(d)/2], m, s, raw, bl.owdStdDev, plain, want, 100*tol)
	if math.Abs(s-want) > tol*want {
		t.Errorf("σ %.3f ms, want %.3f ± %.0f%%", s, want, 100*tol)
	}
	m = d[len(d)/2]
	if math.Abs(m-20-bl.owdMin) > 1+slackUS()/1000 {
		t.Errorf("median delay %.3f ms, want %.3f ± 1", m, 20+bl.owdMin)
	}
}
