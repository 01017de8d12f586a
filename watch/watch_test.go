package watch

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/tcpinfo"
)

// fake is a watcher without sockets: its rounds are fed by hand.
func fake(opts Options) *Watcher {
	opts.Defaults()
	return &Watcher{opts: opts, conns: map[uint64]*conn{}, skipped: map[uint64]skip{}}
}

// bulkSocket is a sending socket of a network-limited bulk transfer at
// t seconds: always busy, data waiting, 2.5 MB/s acknowledged.
func bulkSocket(cookie uint64, local, remote string, t float64) *tcpinfo.DiagSocket {
	d := &tcpinfo.DiagSocket{Cookie: cookie, State: 1, HasInfo: true,
		Src: netip.MustParseAddrPort(local), Dst: netip.MustParseAddrPort(remote)}
	in := &d.Info
	in.Len = tcpinfo.MaxLen
	us := uint64(t * 1e6)
	in.BusyTime, in.BytesAcked, in.BytesSent = us, uint64(t*2.5e6), uint64(t*2.5e6)
	in.SndMSS, in.SndCwnd, in.SndWnd, in.NotsentBytes = 1448, 40, 1<<20, 64<<10
	in.RTT, in.MinRTT = 30000, 20000
	in.MaxPacingRate = ^uint64(0)
	return d
}

// TestWatcherJudgesAndDraws: fed rounds of a bulk sending socket, the
// watcher numbers it, judges its windows (network-limited), counts its
// seconds by class, and draws the live table — in place on a terminal (the
// second drawing moves up over the first), plain lines otherwise.
func TestWatcherJudgesAndDraws(t *testing.T) {
	var term, plain bytes.Buffer
	w := fake(Options{Window: 500 * time.Millisecond, Live: &term, Terminal: true, Target: Target{Ports: []uint16{5001}}})
	other := fake(Options{Window: 500 * time.Millisecond, Live: &plain})
	for i := 0; i <= 30; i++ {
		now := int64(i) * int64(100*time.Millisecond)
		for _, x := range []*Watcher{w, other} {
			x.gen++
			x.sample(now, bulkSocket(7, "198.18.0.1:40000", "198.18.0.2:5001", float64(i)/10), false)
			x.sample(now, bulkSocket(8, "198.18.0.1:40001", "198.18.0.3:22", float64(i)/10), false)
		}
		if i == 20 || i == 30 {
			w.draw(now)
			other.draw(now)
		}
	}
	if w.next != 1 || len(w.skipped) != 1 {
		t.Fatalf("port 5001 only: %d followed, %d skipped", w.next, len(w.skipped))
	}
	c := w.conns[7]
	if c.nclasses < 4 || c.classes[recentWindows-1] != report.NetworkLimited || !c.sending {
		t.Errorf("classes %v (%d), sending %v", c.classes, c.nclasses, c.sending)
	}
	if s := c.seconds[report.NetworkLimited]; s < 2 || s > 3 {
		t.Errorf("network-limited seconds %.1f, want 2–3 of 3 s", s)
	}
	if r := c.rateBits; r < 19e6 || r > 21e6 {
		t.Errorf("rate %.1f Mbit/s, want 20", r/1e6)
	}
	out := term.String()
	if !strings.Contains(out, "\x1b[") || strings.Count(out, "tcplab watch port 5001") != 2 || !strings.Contains(out, "NNNN") || !strings.Contains(out, "20.00 Mbit/s") {
		t.Errorf("terminal table:\n%q", out)
	}
	if second := out[strings.LastIndex(out, "tcplab watch")-10:]; !strings.Contains(second, "\x1b[3A") {
		t.Errorf("the second table does not move up over the first (3 lines):\n%q", second)
	}
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 4 || strings.Contains(plain.String(), "\x1b[") || !strings.Contains(lines[0], "conn 0 198.18.0.1:40000 → 198.18.0.2:5001 sending 20.00 Mbit/s") || !strings.Contains(lines[0], "network-limited") {
		t.Errorf("plain log:\n%s", plain.String())
	}
}

// TestSampleAllocatesNothing: a round of an already followed connection
// allocates nothing (between its windows).
func TestSampleAllocatesNothing(t *testing.T) {
	w := fake(Options{Window: time.Hour, Interval: time.Millisecond})
	d := bulkSocket(7, "198.18.0.1:40000", "198.18.0.2:5001", 1)
	w.sample(0, d, false)
	w.lines = make([]byte, 0, 1<<20)
	w.out = nil
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		now += int64(time.Millisecond)
		w.sample(now, d, false)
	}); n != 0 {
		t.Errorf("%.1f allocations per sample", n)
	}
}

// TestPidSockets: the sockets this test process holds are found through
// /proc/PID/fd; another inode is not.
func TestPidSockets(t *testing.T) {
	p := &pidSockets{pid: os.Getpid()}
	if !p.alive() {
		t.Fatal("this process is not alive")
	}
	_, ino := socketPair(t)
	if !p.holds(ino) {
		t.Errorf("inode %d of our socket not found", ino)
	}
	p.rescanned = false
	if p.holds(ino + 1<<30) {
		t.Errorf("an inode we do not hold was found")
	}
	if (&pidSockets{pid: 1 << 30}).alive() {
		t.Errorf("a process that does not exist is alive")
	}
}

// TestOptionsValidate names the flag at fault.
func TestOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Interval: time.Microsecond, Window: time.Second}, "--interval"},
		{Options{Interval: 100 * time.Millisecond, Window: 150 * time.Millisecond}, "--window"},
		{Options{Interval: 100 * time.Millisecond, Window: time.Second, For: -1}, "--for"},
		{Options{Interval: time.Millisecond, Window: time.Minute}, "--window 1m0s: at most 9997"},
		{Options{Interval: 100 * time.Millisecond, Window: time.Second, Target: Target{PID: -3}}, "--pid"},
	} {
		if err := c.o.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s…", c.o, err, c.want)
		}
	}
	if _, err := Open(Options{Target: Target{NetNS: "tcplab-nosuch-ns"}}); err == nil || !strings.Contains(err.Error(), "/run/netns/tcplab-nosuch-ns") {
		t.Errorf("a missing namespace: %v", err)
	}
}

// BenchmarkWatchSample is one round's work for a followed connection.
func BenchmarkWatchSample(b *testing.B) {
	w := fake(Options{Window: time.Hour, Interval: time.Millisecond})
	d := bulkSocket(7, "198.18.0.1:40000", "198.18.0.2:5001", 1)
	w.sample(0, d, false)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w.sample(int64(i+1)*int64(time.Millisecond), d, false)
	}
}

// TestAddressFilter: --addr keeps sockets with a local or remote address
// in a prefix (IPv4 and IPv6), or equal to an address.
func TestAddressFilter(t *testing.T) {
	w := fake(Options{Target: Target{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.4.0/24"), netip.MustParsePrefix("2001:db8::/32")}}})
	for i, c := range []struct {
		local, remote string
		want          bool
	}{
		{"198.18.0.1:40000", "198.18.4.7:5001", true},
		{"198.18.4.9:5001", "198.18.0.2:40000", true},
		{"198.18.0.1:40000", "198.18.5.7:5001", false},
		{"[2001:db8::1]:40000", "[2001:db9::2]:443", true},
		{"[2001:db9::1]:40000", "[2001:db9::2]:443", false},
	} {
		w.gen++
		w.sample(0, bulkSocket(uint64(i+1), c.local, c.remote, 1), false)
		if _, got := w.conns[uint64(i+1)]; got != c.want {
			t.Errorf("%s → %s: followed %v, want %v", c.local, c.remote, got, c.want)
		}
	}
}

// TestLeftEstablished: a followed connection missing from a round's dump
// of established sockets (an orphan flushing in FIN_WAIT, not yet
// destroyed) is marked as ending: the table says so, and the plain log
// stops printing its last rate as if it were current a window later; back
// in a dump, it is established again.
func TestLeftEstablished(t *testing.T) {
	var term, plain bytes.Buffer
	w := fake(Options{Window: 500 * time.Millisecond, Live: &term, Terminal: true})
	other := fake(Options{Window: 500 * time.Millisecond, Live: &plain})
	for i := 0; i <= 20; i++ {
		now := int64(i) * int64(100*time.Millisecond)
		for _, x := range []*Watcher{w, other} {
			x.gen++
			x.sample(now, bulkSocket(7, "198.18.0.1:40000", "198.18.0.2:5001", float64(i)/10), false)
			if i < 10 {
				x.sample(now, bulkSocket(8, "198.18.0.1:40001", "198.18.0.3:5001", float64(i)/10), false)
			}
		}
	}
	left := w.conns[8]
	if left == nil || left.ended(w.gen) != int64(900*time.Millisecond) || w.conns[7].ended(w.gen) != 0 {
		t.Fatalf("ended %v, want 0.9 s (last seen) for the missing one and 0 for the other", left)
	}
	end := int64(2 * time.Second)
	w.draw(end)
	other.draw(end)
	if out := term.String(); !strings.Contains(out, "ending") || strings.Count(out, "established") != 1 {
		t.Errorf("table:\n%s", out)
	}
	if out := plain.String(); strings.Contains(out, "198.18.0.3") || !strings.Contains(out, "198.18.0.2") {
		t.Errorf("plain log shows the connection that left a second ago as current:\n%s", out)
	}
	w.gen++
	w.sample(end, bulkSocket(8, "198.18.0.1:40001", "198.18.0.3:5001", 2), false)
	if left.ended(w.gen) != 0 {
		t.Error("back in the dump, still marked as ending")
	}
}
