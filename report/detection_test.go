package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

func ka(idle, intv time.Duration, count int) *record.KeepaliveSettings {
	return &record.KeepaliveSettings{Idle: idle, Interval: intv, Count: count}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestExpectedDetection: the kernel's rule for a socket whose peer went
// dark, for each of its settings (the same rules run against real sockets
// in lab's TestSweep…).
func TestExpectedDetection(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		name      string
		so        record.SocketSettings
		busy      bool
		firstRTO  time.Duration
		idleShift time.Duration
		want      float64
		rule      string
	}{
		{"busy with user_timeout", record.SocketSettings{UserTimeout: 5 * s}, true, 750 * time.Millisecond, 0, 5.75, "busy: first RTO (+0.75s) + user_timeout"},
		{"busy without", record.SocketSettings{}, true, 200 * time.Millisecond, 0, 0, "busy: tcp_retries2"},
		{"idle without keepalive", record.SocketSettings{}, false, 0, 0, 0, "idle, no keepalive: never"},
		{"keepalive", record.SocketSettings{Keepalive: ka(3*s, s, 3)}, false, 0, 0, 6, "idle: keepalive idle + count × interval"},
		{"keepalive from an earlier packet", record.SocketSettings{Keepalive: ka(3*s, s, 3)}, false, 0, -2 * s, 4, "from the last packet received (-2.00s)"},
		{"small shift not named", record.SocketSettings{Keepalive: ka(3*s, s, 3)}, false, 0, -20 * time.Millisecond, 5.98, "idle: keepalive idle + count × interval"},
		{"keepalive with user_timeout", record.SocketSettings{Keepalive: ka(3*s, 2*s, 9), UserTimeout: 6 * s}, false, 0, 0, 7, "idle: keepalive with user_timeout"},
	} {
		at, rule := expectedDetection(c.so, c.busy, c.firstRTO, c.idleShift)
		if !near(at, c.want) || !strings.Contains(rule, c.rule) {
			t.Errorf("%s: %v %q, want %v %q", c.name, at, rule, c.want, c.rule)
		}
	}
}

// TestNATDetection: a NAT that forgets idle connections.
func TestNATDetection(t *testing.T) {
	s := time.Second
	drop := &record.NATSettings{IdleTimeout: 10 * s, Expired: record.NATDrop}
	rst := &record.NATSettings{IdleTimeout: 10 * s, Expired: record.NATRST}
	for _, c := range []struct {
		name                string
		so                  record.SocketSettings
		nat                 *record.NATSettings
		forgot              bool
		firstSend, firstRTO time.Duration
		want                float64
		rule                string
		dataFirst           bool
	}{
		{"kept alive", record.SocketSettings{Keepalive: ka(5*s, s, 3)}, drop, false, 0, 0, 0, "kept alive: keepalive idle 5s < nat idle_timeout 10s", false},
		{"not forgotten", record.SocketSettings{}, drop, false, 0, 0, 0, "did not forget", false},
		{"forgot, nothing sent", record.SocketSettings{}, drop, true, 0, 0, 0, "no keepalive, nothing sent: never", false},
		{"probes dropped", record.SocketSettings{Keepalive: ka(20*s, 2*s, 3)}, drop, true, 0, 0, 26, "nat forgot, probes dropped: keepalive idle + count", false},
		{"probe answered with rst", record.SocketSettings{Keepalive: ka(20*s, 2*s, 3)}, rst, true, 0, 0, 20, "RST to the first keepalive probe", false},
		{"data answered with rst", record.SocketSettings{}, rst, true, 1500 * time.Millisecond, 0, 1.5, "RST to the first data sent after (+1.50s)", true},
		{"data dropped, user_timeout", record.SocketSettings{UserTimeout: 4 * s}, drop, true, s, 1200 * time.Millisecond, 5.2, "first RTO (+1.20s) + user_timeout", true},
		{"data dropped, no user_timeout", record.SocketSettings{}, drop, true, s, 200 * time.Millisecond, 0, "tcp_retries2", true},
		{"rst data before the probe", record.SocketSettings{Keepalive: ka(20*s, 2*s, 3)}, rst, true, 3 * s, 0, 3, "RST to the first data", true},
	} {
		at, rule, dataFirst := natDetection(c.so, c.nat, c.forgot, 0, c.firstSend, c.firstRTO)
		if !near(at, c.want) || !strings.Contains(rule, c.rule) || dataFirst != c.dataFirst {
			t.Errorf("%s: %v %q %v, want %v %q %v", c.name, at, rule, dataFirst, c.want, c.rule, c.dataFirst)
		}
	}
}

// TestRebootAndZeroWindowDetection: the reboot and persist-timer rules.
func TestRebootAndZeroWindowDetection(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		name           string
		so             record.SocketSettings
		busy, zeroWind bool
		want           float64
		rule           string
	}{
		{"busy", record.SocketSettings{}, true, false, 0.2, "RST to the next retransmission"},
		{"zero window", record.SocketSettings{}, false, true, 0.2, "next persist probe"},
		{"keepalive", record.SocketSettings{Keepalive: ka(4*s, s, 5)}, false, false, 4, "first keepalive probe"},
		{"idle", record.SocketSettings{}, false, false, 0, "never"},
	} {
		at, rule := rebootDetection(c.so, c.busy, c.zeroWind, 0)
		if !near(at, c.want) || !strings.Contains(rule, c.rule) {
			t.Errorf("reboot, %s: %v %q, want %v %q", c.name, at, rule, c.want, c.rule)
		}
	}
	if at, rule := zeroWindowDetection(record.SocketSettings{UserTimeout: 3 * s}, -2*s); !near(at, 1) || !strings.Contains(rule, "zero window since -2.00s") {
		t.Errorf("zero window with user_timeout: %v %q", at, rule)
	}
	if at, rule := zeroWindowDetection(record.SocketSettings{}, 0); at != 0 || !strings.Contains(rule, "tcp_retries2") {
		t.Errorf("zero window without: %v %q", at, rule)
	}
}

// TestPeerReset: a keepalive abort's RST reaches the peer only over an
// open direction, and only when it comes first.
func TestPeerReset(t *testing.T) {
	row := func(sender, receiver SideDetection) *SweepRow {
		sender.Side, receiver.Side = record.RoleSender, record.RoleReceiver
		return &SweepRow{Sides: []SideDetection{sender, receiver}}
	}
	// down cut: the receiver's packets still reach the sender.
	r := row(SideDetection{ExpectedS: 0, Rule: "busy: tcp_retries2"}, SideDetection{ExpectedS: 6, KeepaliveAbort: true})
	peerReset(r, &record.Failure{Partition: "down"})
	if r.Sides[0].ExpectedS != 6 || !strings.Contains(r.Sides[0].Rule, "receiver's keepalive abort RST (down only is cut)") {
		t.Errorf("down cut: %+v", r.Sides[0])
	}
	// up cut: the receiver's RST does not reach the sender.
	r = row(SideDetection{ExpectedS: 0}, SideDetection{ExpectedS: 6, KeepaliveAbort: true})
	peerReset(r, &record.Failure{Partition: "up"})
	if r.Sides[0].ExpectedS != 0 {
		t.Errorf("up cut: the RST crossed a cut direction: %+v", r.Sides[0])
	}
	// A sooner own rule stays.
	r = row(SideDetection{ExpectedS: 3, Rule: "own"}, SideDetection{ExpectedS: 6, KeepaliveAbort: true})
	peerReset(r, &record.Failure{Partition: "down"})
	if r.Sides[0].ExpectedS != 3 || r.Sides[0].Rule != "own" {
		t.Errorf("sooner own rule replaced: %+v", r.Sides[0])
	}
	// Not a keepalive abort: nothing crosses.
	r = row(SideDetection{ExpectedS: 0}, SideDetection{ExpectedS: 6})
	peerReset(r, &record.Failure{Partition: "down"})
	if r.Sides[0].ExpectedS != 0 {
		t.Errorf("a user-timeout abort sent an RST: %+v", r.Sides[0])
	}
}

// TestDetect: the whole judgement on made-up records: a busy sender whose
// receiver vanished at 2 s, first RTO 0.8 s later, user_timeout 5 s, and
// the disconnect it recorded.
func TestDetect(t *testing.T) {
	info := func(unacked, backoff uint32) tcpinfo.Info {
		return tcpinfo.Info{Len: 232, Unacked: unacked, Backoff: uint8(backoff)}
	}
	ms := int64(time.Millisecond)
	samples := []tcpinfo.Sample{
		{T: 1950 * ms, Side: record.RoleSender, Info: info(10, 0)},
		{T: 2200 * ms, Side: record.RoleSender, Info: info(10, 0)},
		{T: 2800 * ms, Side: record.RoleSender, Info: info(10, 1)},
		{T: 1950 * ms, Side: record.RoleReceiver, Info: info(0, 0)},
	}
	sum := &Summary{Meta: record.Meta{FailureS: 2}, Disconnects: []Disconnect{{Side: record.RoleSender, T: 7.9, Error: "ETIMEDOUT"}}}
	f := &record.Failure{Vanish: true, InTimeline: true, Sockets: map[record.Side]record.SocketSettings{record.RoleSender: {UserTimeout: 5 * time.Second}}}
	var row SweepRow
	Detect(&row, f, sum, samples, nil)
	if len(row.Sides) != 1 {
		t.Fatalf("sides %+v: the vanished receiver is the failure, not a survivor", row.Sides)
	}
	d := row.Sides[0]
	if !d.Busy || !near(d.ExpectedS, 5.8) || !near(d.DetectedS, 5.9) || d.Error != "ETIMEDOUT" || row.FirstNoticed != record.RoleSender {
		t.Errorf("sender %+v, first noticed %q; want busy, expected 5.8 s, detected 5.9 s", d, row.FirstNoticed)
	}
	if d.KeepaliveAbort {
		t.Errorf("a busy side's abort is not a keepalive abort")
	}
}
