package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// Detect puts a sweep point's detection figures into its row: when the
// failure began, when each side's connection ended after it and with what
// error, its probes, whether it was busy, and the kernel's rule for it. f is
// the failure the scenario made; samples and events are the point's records.
func Detect(row *SweepRow, f *record.Failure, sum *Summary, samples []tcpinfo.Sample, events []record.Event) {
	// The failure: a vanish, the timeline's first partition, reboot, kill or
	// freeze, or the NAT forgetting the connection (as the run recorded it).
	fail := time.Duration(sum.Meta.FailureS * 1e9)
	row.FailureS = sum.Meta.FailureS
	firstT := math.Inf(1)
	for _, side := range []record.Side{record.RoleSender, record.RoleReceiver} {
		if (side == record.RoleReceiver && f.Vanish) || side == f.Reboot || side == f.Kill || side == f.Freeze {
			continue // the vanished or rebooted side is the failure, not a survivor
		}
		d := SideDetection{Side: side}
		for _, x := range sum.Disconnects {
			if x.Side == side && x.T >= row.FailureS && fail > 0 {
				d.DetectedS, d.Error = x.T-row.FailureS, x.Error
				if x.T < firstT {
					firstT, row.FirstNoticed = x.T, side
				}
				break
			}
		}
		var firstRTO time.Duration       // first sample after the failure showing an RTO backoff
		var firstSend time.Duration      // first sample after the failure with data unacknowledged
		var zeroSince time.Duration = -1 // start of the zero-window stretch the failure found
		var lastRecv time.Duration = -1  // when the last packet arrived (after the failure too, when one direction still carries it)
		zeroWindow := false
		for _, x := range samples {
			if x.Side != string(side) {
				continue
			}
			t := time.Duration(x.T)
			zw := x.Info.Has("snd_wnd") && x.Info.SndWnd == 0 && x.Queues.Unsent > 0
			if fail == 0 {
				continue // no failure: nothing to be busy or idle at
			}
			if t < fail && t >= fail-100*time.Millisecond && x.Info.Unacked > 0 {
				d.Busy = true // data in flight at the failure
			}
			if t < fail {
				lastRecv = t - time.Duration(min(x.Info.LastAckRecv, x.Info.LastDataRecv))*time.Millisecond
				switch {
				case zw && zeroSince < 0:
					zeroSince = t
				case !zw:
					zeroSince = -1
				}
				continue
			}
			if r := t - time.Duration(min(x.Info.LastAckRecv, x.Info.LastDataRecv))*time.Millisecond; r > lastRecv && (d.DetectedS == 0 || t.Seconds() < row.FailureS+d.DetectedS) {
				lastRecv = r // a path cut one way still delivers the other way's retransmissions
			}
			d.Probes = max(d.Probes, int(x.Info.Probes))
			if t < fail+300*time.Millisecond && t >= fail+100*time.Millisecond {
				if x.Info.Unacked > 0 {
					d.Busy = true
				}
				if zw && zeroSince >= 0 {
					zeroWindow = true
				}
			}
			if firstRTO == 0 && x.Info.Backoff > 0 && x.Info.Probes == 0 {
				firstRTO = t - fail
			}
			if firstSend == 0 && x.Info.Unacked > 0 {
				firstSend = max(t-fail, time.Millisecond)
			}
		}
		so := f.Sockets[side]
		// The NAT saw this side's first data after it forgot: exact, where a
		// sample may miss a send answered with an RST within a millisecond.
		for _, e := range events {
			if e.Kind == record.EventMiddleboxRefused && e.Side == side && e.Detail == "data" && time.Duration(e.T) >= fail {
				firstSend = max(time.Duration(e.T)-fail, time.Millisecond)
				break
			}
		}
		// Keepalive counts from the last packet received, which may come
		// before the failure — or after it, when the path is cut one way
		// and retransmissions still arrive: shift the idle rules by it.
		var idleShift time.Duration
		if lastRecv >= 0 {
			idleShift = lastRecv - fail
		}
		if l := sum.Meta.Link; l != nil {
			c := l.Down.Counters
			if side == record.RoleReceiver {
				c = l.Up.Counters
			}
			if c != nil {
				d.WireProbes = &WireProbes{Keepalive: c.KeepaliveProbes, Window: c.WindowProbes}
			}
		}
		switch {
		case f.NAT != nil && !f.InTimeline:
			var dataFirst bool
			d.ExpectedS, d.Rule, dataFirst = natDetection(so, f.NAT, fail > 0, idleShift, firstSend, firstRTO)
			d.Busy = dataFirst
		case f.Kill != "":
			d.ExpectedS, d.Rule = 0.05, "peer killed: its kernel closes the connection (FIN, or RST with unread data) at once"
		case f.Freeze != "":
			d.ExpectedS, d.Rule = 0, "peer frozen: its kernel still answers; only a user_timeout behind its closed window ends the connection"
		case f.Reboot != "":
			d.ExpectedS, d.Rule = rebootDetection(so, d.Busy, zeroWindow, idleShift)
		case zeroWindow:
			d.ExpectedS, d.Rule = zeroWindowDetection(so, zeroSince-fail)
		default:
			d.ExpectedS, d.Rule = expectedDetection(so, d.Busy, firstRTO, idleShift)
			// An idle side with keepalive gives up by a keepalive abort,
			// which sends an RST (peerReset).
			d.KeepaliveAbort = !d.Busy && so.Keepalive != nil
		}
		row.Sides = append(row.Sides, d)
	}
	peerReset(row, f)
}

// peerReset applies the one rule that crosses sides: a keepalive abort
// sends an RST (a retransmission or user-timeout abort does not). When the
// path is cut one way only and the direction from the aborting side to its
// peer is still open, the peer learns of the failure from that RST, at the
// aborting side's time, if that comes before its own rule.
func peerReset(row *SweepRow, f *record.Failure) {
	if len(row.Sides) != 2 || f.Vanish || f.Reboot != "" {
		return
	}
	part := f.Partition
	// open[x] says whether packets from side x still reach the other side.
	open := map[record.Side]bool{record.RoleSender: part == "up", record.RoleReceiver: part == "down"}
	for i := range row.Sides {
		me, peer := &row.Sides[i], &row.Sides[1-i]
		if !open[peer.Side] || !peer.KeepaliveAbort || peer.ExpectedS == 0 {
			continue
		}
		if me.ExpectedS == 0 || peer.ExpectedS < me.ExpectedS {
			me.ExpectedS = peer.ExpectedS
			me.Rule = "the " + string(peer.Side) + "'s keepalive abort RST (" + part + " only is cut)"
		}
	}
}

// natDetection is the rule for a connection through a NAT that forgets it
// after idle_timeout without a packet. Keepalive probes sent more often than
// that keep it alive. Otherwise, after the NAT forgot, whichever comes first
// ends it: the first keepalive probe (idle after the last packet received,
// idleShift from the failure) meets a dropped path — the keepalive rule,
// idle + count × interval — or an RST; or the first data sent (firstSend
// after the failure) meets a dropped path — first RTO (firstRTO) +
// user_timeout, or tcp_retries2 without one — or an RST at once. A side that
// neither probes nor sends never notices. dataFirst says the data rule won.
func natDetection(so record.SocketSettings, nat *record.NATSettings, forgot bool, idleShift, firstSend, firstRTO time.Duration) (at float64, rule string, dataFirst bool) {
	k := so.Keepalive
	timeout := nat.IdleTimeout
	switch {
	case !forgot && k != nil && k.Idle < timeout:
		return 0, fmt.Sprintf("kept alive: keepalive idle %v < nat idle_timeout %v", k.Idle, timeout), false
	case !forgot:
		return 0, "the nat did not forget the connection within the run", false
	}
	rule = "nat forgot the idle connection; no keepalive, nothing sent: never"
	take := func(t float64, r string, data bool) {
		if t > 0 && (at == 0 || t < at) {
			at, rule, dataFirst = t, r, data
		}
	}
	if k != nil {
		t, r := fromLastPacket(k.Idle.Seconds(), "nat forgot: RST to the first keepalive probe (idle)", idleShift)
		if nat.Expired != record.NATRST {
			t, r = expectedDetection(so, false, 0, idleShift)
			r = "nat forgot, probes dropped: " + strings.TrimPrefix(r, "idle: ")
		}
		take(max(0.001, t), r, false)
	}
	if firstSend > 0 {
		switch {
		case nat.Expired == record.NATRST:
			take(firstSend.Seconds(), fmt.Sprintf("nat forgot: RST to the first data sent after (+%.2fs)", firstSend.Seconds()), true)
		case so.UserTimeout > 0 && firstRTO > 0:
			take((firstRTO + so.UserTimeout).Seconds(), fmt.Sprintf("nat forgot, data dropped: first RTO (+%.2fs) + user_timeout", firstRTO.Seconds()), true)
		case at == 0:
			rule, dataFirst = "nat forgot, data dropped: tcp_retries2 (~15 min)", true
		}
	}
	return at, rule, dataFirst
}

// fromLastPacket moves a keepalive rule's time by idleShift — keepalive
// counts from the last packet received (before the failure, or after it
// when one direction still delivers), not from the failure — and says so.
func fromLastPacket(at float64, rule string, idleShift time.Duration) (float64, string) {
	at = max(0, at+idleShift.Seconds())
	if idleShift < -50*time.Millisecond || idleShift > 50*time.Millisecond {
		rule += fmt.Sprintf(", from the last packet received (%+.2fs)", idleShift.Seconds())
	}
	return at, rule
}

// rebootDetection is the rule when the peer rebooted: its new kernel
// answers the next packet with an RST. A busy side sends at once (its next
// data or retransmission: within an RTO); an idle side with keepalive
// learns at its first probe, idle after the last packet it received; an
// idle side without keepalive never sends, so never learns.
func rebootDetection(so record.SocketSettings, busy, zeroWindow bool, idleShift time.Duration) (float64, string) {
	switch {
	case busy:
		return 0.2, "peer rebooted: RST to the next retransmission (within an RTO)"
	case zeroWindow:
		return 0.2, "peer rebooted: RST to the next persist probe"
	case so.Keepalive != nil:
		return fromLastPacket(so.Keepalive.Idle.Seconds(), "peer rebooted: RST to the first keepalive probe (idle)", idleShift)
	}
	return 0, "peer rebooted, idle, no keepalive: never"
}

// zeroWindowDetection is the rule for a side with data waiting behind its
// peer's zero window since zeroSince (relative to the failure, negative
// when it began before): the persist timer probes the window, and — measured
// on 6.x kernels — TCP_USER_TIMEOUT counts from the first persist probe of
// the stretch, answered or not (an answered probe does not move snd_una),
// so the abort comes at the first probe past zeroSince + user_timeout: also
// when the peer is alive and only slow. Without a user timeout the persist
// timer gives up after tcp_retries2 unanswered probes (minutes).
func zeroWindowDetection(so record.SocketSettings, zeroSince time.Duration) (float64, string) {
	if so.UserTimeout == 0 {
		return 0, "zero window: persist probes up to tcp_retries2 (minutes)"
	}
	ut := so.UserTimeout
	return max(0, (zeroSince + ut).Seconds()), fmt.Sprintf("zero window since %+.2fs: user_timeout from its first persist probe", zeroSince.Seconds())
}

// expectedDetection is the kernel's rule for how long after its peer went
// dark a socket notices, from its settings and whether it had unacked data:
//
//   - busy (data unacknowledged): TCP_USER_TIMEOUT if set, counted from the
//     first RTO retransmission (firstRTO after the failure, as sampled).
//     Measured here: while new data keeps going out behind a pending tail
//     loss probe, each send re-arms the RTO timer, so the first RTO comes
//     ~0.75 s after the cut, not 0.2 s, and the abort user_timeout after it.
//     Without a user timeout tcp_retries2 (15 backed-off RTOs: about 15
//     minutes), which no short run sees;
//   - idle with keepalive: the first probe after idle, then one every
//     interval; the connection fails after count unanswered probes
//     (idle + count × interval), or with TCP_USER_TIMEOUT set, at the first
//     probe time (at least one probe out) at which user_timeout has passed;
//   - idle without keepalive: never.
func expectedDetection(so record.SocketSettings, busy bool, firstRTO, idleShift time.Duration) (float64, string) {
	ut := so.UserTimeout
	if busy {
		if ut > 0 {
			return (firstRTO + ut).Seconds(), fmt.Sprintf("busy: first RTO (+%.2fs) + user_timeout", firstRTO.Seconds())
		}
		return 0, "busy: tcp_retries2 (~15 min)"
	}
	k := so.Keepalive
	if k == nil {
		return 0, "idle, no keepalive: never"
	}
	idle, intv := k.Idle, k.Interval
	if ut > 0 {
		for n := 1; ; n++ {
			if t := idle + time.Duration(n)*intv; t >= ut {
				return fromLastPacket(t.Seconds(), "idle: keepalive with user_timeout", idleShift)
			}
		}
	}
	return fromLastPacket((idle + time.Duration(k.Count)*intv).Seconds(), "idle: keepalive idle + count × interval", idleShift)
}
