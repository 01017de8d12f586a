package userspace

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// Middlebox is a stateful box on the link — a NAT or a firewall — that
// forgets a TCP flow after IdleTimeout without a packet crossing either
// way. A forgotten flow's packets are dropped, or with Reset answered with
// an RST to their sender (as some firewalls and load balancers do), until a
// SYN starts the flow anew. The zero value (IdleTimeout 0) forgets nothing.
type Middlebox struct {
	IdleTimeout time.Duration
	Reset       bool
}

// Expiry is a flow the middlebox forgot.
type Expiry struct {
	// At is when it forgot (the last packet that crossed + the idle
	// timeout), on the monotonic clock in nanoseconds.
	At int64
	// Sender and Receiver are the flow's ends on the sender's and the
	// receiver's side of the link.
	Sender, Receiver netip.AddrPort
}

// Refusal is the first packet of one direction of a forgotten flow that the
// middlebox dropped or answered with an RST.
type Refusal struct {
	At  int64 // monotonic ns
	Dir int   // Down (from the sender's side) or Up
	// Data: it carried payload (a probe carries at most one byte, a pure
	// ACK none).
	Data             bool
	Sender, Receiver netip.AddrPort
}

// flowKey names a TCP flow by its two ends (IPv4 address << 16 | port),
// the sender's side first, so both directions find the same entry.
type flowKey struct{ s, r uint64 }

// flow is what the link knows of one TCP flow: when a packet last crossed,
// whether the middlebox forgot it, and per direction the sequence space
// seen, to tell probes from data.
type flow struct {
	last      int64
	forgotten bool
	// Per direction (Down, Up): the highest ACK number sent (the other
	// direction's snd_una as the peer acknowledged it), and whether the
	// last segment advertised a zero window.
	ack     [2]uint32
	acked   [2]bool
	zeroWin [2]bool
	// refused: the direction's first packet after the forgetting is recorded.
	refused [2]bool
}

// maxFlows bounds the flow table; beyond it old flows are evicted and, if
// none is old, new ones go untracked (forwarded, never forgotten).
const maxFlows = 1 << 16

// maxExpiries bounds the expiries kept for the run's record.
const maxExpiries = 4096

// flowTable is the link's per-flow state, shared by both directions.
type flowTable struct {
	mu      sync.Mutex
	mb      Middlebox
	flows   map[flowKey]*flow
	expired []Expiry
	refusal []Refusal
}

func newFlowTable() *flowTable { return &flowTable{flows: make(map[flowKey]*flow, 64)} }

// Middlebox verdicts.
const (
	passFlow = iota
	dropFlow
	resetFlow
)

// Probe kinds.
const (
	noProbe = iota
	keepaliveProbe
	windowProbe
)

// observe records a TCP/IPv4 packet of direction dir at now and returns
// what the middlebox does with it and whether it is a probe. crossing is
// false when the link drops it anyway (a partition): it is still seen (a
// probe into a blackhole is a probe on the wire) but keeps no flow alive.
//
// A probe — keepalive or zero-window, Linux's tcp_xmit_probe_skb — is a
// bare ACK (at most one byte) whose sequence number is one below what the
// peer has acknowledged: old data the peer must answer with an ACK. It is a
// window probe when the peer's last segment advertised a zero window.
func (t *flowTable) observe(dir int, p pkt, l *layout, now int64, crossing bool) (verdict, probe int) {
	if !l.ok {
		return passFlow, noProbe
	}
	ip := p.ip()
	tcp := ip[l.ipHL:]
	src := uint64(binary.BigEndian.Uint32(ip[12:16]))<<16 | uint64(binary.BigEndian.Uint16(tcp[0:2]))
	dst := uint64(binary.BigEndian.Uint32(ip[16:20]))<<16 | uint64(binary.BigEndian.Uint16(tcp[2:4]))
	key := flowKey{src, dst}
	if dir == Up {
		key = flowKey{dst, src}
	}
	flags := tcp[13]
	seq := binary.BigEndian.Uint32(tcp[4:8])
	ackNo := binary.BigEndian.Uint32(tcp[8:12])
	win := binary.BigEndian.Uint16(tcp[14:16])

	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.flows[key]
	if f == nil {
		if len(t.flows) >= maxFlows && !t.evict(now) {
			return passFlow, noProbe // untracked: forwarded, never forgotten
		}
		f = &flow{last: now}
		t.flows[key] = f
	}
	t.expire(key, f, now)
	if f.forgotten && flags&tcpSYN != 0 && flags&tcpACK == 0 && crossing {
		*f = flow{last: now} // a new connection on the same ends
	}
	if flags&(tcpSYN|tcpFIN|tcpRST) == 0 && flags&tcpACK != 0 && l.payload <= 1 && f.acked[1-dir] && seq == f.ack[1-dir]-1 {
		probe = keepaliveProbe
		if f.zeroWin[1-dir] {
			probe = windowProbe
		}
	}
	if flags&tcpACK != 0 && (!f.acked[dir] || int32(ackNo-f.ack[dir]) > 0) {
		f.ack[dir], f.acked[dir] = ackNo, true
	}
	if flags&(tcpSYN|tcpRST) == 0 {
		f.zeroWin[dir] = win == 0
	}
	switch {
	case f.forgotten:
		if !f.refused[dir] && crossing && len(t.refusal) < maxExpiries {
			f.refused[dir] = true
			t.refusal = append(t.refusal, Refusal{At: now, Dir: dir, Data: l.payload > 1, Sender: addrPort(key.s), Receiver: addrPort(key.r)})
		}
		if t.mb.Reset {
			return resetFlow, probe
		}
		return dropFlow, probe
	case crossing:
		f.last = now
	}
	return passFlow, probe
}

// expire marks f forgotten when it has been idle past the timeout.
func (t *flowTable) expire(key flowKey, f *flow, now int64) {
	idle := int64(t.mb.IdleTimeout)
	if idle <= 0 || f.forgotten || now-f.last <= idle {
		return
	}
	f.forgotten = true
	if len(t.expired) < maxExpiries {
		t.expired = append(t.expired, Expiry{At: f.last + idle, Sender: addrPort(key.s), Receiver: addrPort(key.r)})
	}
}

// evict removes forgotten flows and flows idle for a minute; it reports
// whether room was made.
func (t *flowTable) evict(now int64) bool {
	for k, f := range t.flows {
		if f.forgotten || now-f.last > int64(time.Minute) {
			delete(t.flows, k)
		}
	}
	return len(t.flows) < maxFlows
}

// sweep marks every flow idle past the timeout forgotten, so that a flow
// nothing crosses any more is recorded too, and returns the expiries so far
// appended to dst.
func (t *flowTable) sweep(now int64, dst []Expiry) []Expiry {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, f := range t.flows {
		t.expire(k, f, now)
	}
	return append(dst, t.expired...)
}

// refusals returns the first refused packet of each direction of each
// forgotten flow so far, appended to dst.
func (t *flowTable) refusals(dst []Refusal) []Refusal {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(dst, t.refusal...)
}

func (t *flowTable) setMiddlebox(m Middlebox) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mb = m
}

func addrPort(v uint64) netip.AddrPort {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(v>>16))
	return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(v))
}
