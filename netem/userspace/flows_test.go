package userspace

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tcplab/tcplab/netem/impair"
	"golang.org/x/sys/unix"
)

// seg builds a plain TCP/IPv4 segment (no offloads) as a TUN delivers it.
func seg(down bool, seq, ack uint32, flags byte, win uint16, payload int) []byte {
	b := make([]byte, vnetHdrLen+40+payload)
	ip := b[vnetHdrLen:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	snd, rcv := []byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}
	sp, rp := uint16(5000), uint16(40000)
	if !down {
		snd, rcv, sp, rp = rcv, snd, rp, sp
	}
	copy(ip[12:16], snd)
	copy(ip[16:20], rcv)
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], sp)
	binary.BigEndian.PutUint16(tcp[2:], rp)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], win)
	return b
}

// pair is the two directions of a link sharing one flow table, without
// TUN devices: what the scheduler queues is read back from the queues.
type pair struct {
	ft   *flowTable
	dirs [2]*direction
	back [2][2]int // per direction: pipe (read, write) standing for the TUN RSTs go back to
}

func newPair(t *testing.T, mb Middlebox) *pair {
	p := &pair{ft: newFlowTable()}
	p.ft.setMiddlebox(mb)
	for i := range p.dirs {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		p.back[i] = fds
		d := &direction{name: "test", idx: i, back: fds[1], flows: p.ft, wake: func() {}}
		d.set(impair.Impairment{})
		p.dirs[i] = d
	}
	return p
}

// send hands b to direction dir at time at and reports whether it was
// queued for the far side.
func (p *pair) send(dir int, b []byte, at time.Duration) bool {
	d := p.dirs[dir]
	before := d.queue.Len()
	s := d.getSlot()
	s.n = copy(s.buf[:], b)
	d.handle(s, int64(at))
	return d.queue.Len() > before
}

// TestMiddleboxForgetsIdleFlow: a flow idle past the timeout is forgotten
// (recorded once, at last packet + timeout); its packets are then dropped
// both ways until a SYN starts it anew; traffic within the timeout keeps it.
func TestMiddleboxForgetsIdleFlow(t *testing.T) {
	p := newPair(t, Middlebox{IdleTimeout: 5 * time.Second})
	const down, up = Down, Up
	if !p.send(down, seg(true, 100, 900, tcpACK, 1000, 10), time.Second) || !p.send(up, seg(false, 900, 110, tcpACK, 1000, 0), 5900*time.Millisecond) {
		t.Fatal("a live flow was not forwarded")
	}
	// 4.9 s after the last packet: still known.
	if !p.send(down, seg(true, 110, 900, tcpACK, 1000, 10), 10800*time.Millisecond) {
		t.Fatal("a flow idle 4.9 s of 5 was dropped")
	}
	if ex := p.ft.sweep(int64(12*time.Second), nil); len(ex) != 0 {
		t.Fatalf("expired early: %+v", ex)
	}
	ex := p.ft.sweep(int64(16*time.Second), nil)
	if len(ex) != 1 || ex[0].At != int64(15800*time.Millisecond) || ex[0].Sender.String() != "198.18.0.1:5000" || ex[0].Receiver.String() != "198.18.0.2:40000" {
		t.Fatalf("expiries %+v, want one at 15.8 s for 198.18.0.1:5000 ⇄ 198.18.0.2:40000", ex)
	}
	if p.send(down, seg(true, 120, 900, tcpACK, 1000, 10), 17*time.Second) || p.send(up, seg(false, 900, 130, tcpACK, 1000, 0), 17*time.Second) {
		t.Error("a forgotten flow's packets crossed")
	}
	if got := p.dirs[down].c.DropMiddlebox + p.dirs[up].c.DropMiddlebox; got != 2 {
		t.Errorf("dropped_middlebox %d, want 2", got)
	}
	p.send(down, seg(true, 130, 900, tcpACK, 1000, 10), 17500*time.Millisecond) // not the first: not recorded
	rf := p.ft.refusals(nil)
	if len(rf) != 2 || rf[0].Dir != down || !rf[0].Data || rf[0].At != int64(17*time.Second) || rf[1].Dir != up || rf[1].Data {
		t.Errorf("refusals %+v, want the first of each direction: data down at 17 s, an ACK up", rf)
	}
	if !p.send(up, seg(false, 5000, 0, tcpSYN, 1000, 0), 18*time.Second) || !p.send(down, seg(true, 7000, 5001, tcpSYN|tcpACK, 1000, 0), 18*time.Second) {
		t.Error("a new connection (SYN) on the same ends was not let through")
	}
	if ex := p.ft.sweep(int64(19*time.Second), nil); len(ex) != 1 {
		t.Errorf("%d expiries after the new connection, want still 1", len(ex))
	}
}

// TestMiddleboxReset: with reset, a forgotten flow's packet is answered
// with an RST to its sender, written back into the sender's TUN.
func TestMiddleboxReset(t *testing.T) {
	p := newPair(t, Middlebox{IdleTimeout: time.Second, Reset: true})
	p.send(Down, seg(true, 100, 900, tcpACK, 1000, 10), 0)
	if p.send(Down, seg(true, 109, 900, tcpACK, 1000, 0), 3*time.Second) {
		t.Fatal("a forgotten flow's probe crossed")
	}
	var b [128]byte
	n, err := unix.Read(p.back[Down][0], b[:])
	if err != nil || n != vnetHdrLen+40 {
		t.Fatalf("no RST written back: %d bytes, %v", n, err)
	}
	tcp := b[vnetHdrLen+20:]
	if tcp[13]&tcpRST == 0 || binary.BigEndian.Uint32(tcp[4:]) != 900 {
		t.Errorf("flags %#x seq %d, want RST with seq 900 (the probe's ack)", tcp[13], binary.BigEndian.Uint32(tcp[4:]))
	}
	if c := p.dirs[Down].c; c.MiddleboxResets != 1 || c.DropMiddlebox != 1 {
		t.Errorf("counters %+v", c)
	}
}

// TestProbeCount: a bare ACK one below what the peer acknowledged is a
// keepalive probe, or a window probe when the peer's window is zero;
// ordinary ACKs and data are neither. Probes into a partition are counted
// too, and do not keep a flow alive.
func TestProbeCount(t *testing.T) {
	p := newPair(t, Middlebox{IdleTimeout: 10 * time.Second})
	p.send(Down, seg(true, 100, 900, tcpACK, 1000, 50), 0)            // data 100..150
	p.send(Up, seg(false, 900, 150, tcpACK, 1000, 0), 0)              // acked
	p.send(Down, seg(true, 150, 900, tcpACK, 1000, 0), 0)             // a pure ACK: not a probe
	p.send(Down, seg(true, 149, 900, tcpACK, 1000, 0), time.Second)   // keepalive
	p.send(Down, seg(true, 149, 900, tcpACK, 1000, 1), 2*time.Second) // 1-byte keepalive (garbage byte)
	p.send(Up, seg(false, 900, 150, tcpACK, 0, 0), 2*time.Second)     // answered, window now zero
	p.send(Down, seg(true, 149, 900, tcpACK, 1000, 0), 3*time.Second) // window probe
	if c := p.dirs[Down].c; c.KeepaliveProbes != 2 || c.WindowProbes != 1 {
		t.Errorf("down: %d keepalive, %d window probes; want 2 and 1", c.KeepaliveProbes, c.WindowProbes)
	}
	if c := p.dirs[Up].c; c.KeepaliveProbes+c.WindowProbes != 0 {
		t.Errorf("up: probes counted in ACKs: %+v", c)
	}
	p.dirs[Down].set(impair.Impairment{Blackhole: true})
	p.send(Up, seg(false, 900, 150, tcpACK, 1000, 0), 3*time.Second) // window open again
	for i := 0; i < 3; i++ {
		p.send(Down, seg(true, 149, 900, tcpACK, 1000, 0), time.Duration(5+3*i)*time.Second)
	}
	if c := p.dirs[Down].c; c.KeepaliveProbes != 5 || c.DropBlack != 3 {
		t.Errorf("into the partition: %d keepalive probes (want 5), %d dropped (want 3)", c.KeepaliveProbes, c.DropBlack)
	}
	if ex := p.ft.sweep(int64(14*time.Second), nil); len(ex) != 1 || ex[0].At != int64(13*time.Second) {
		t.Errorf("probes into a partition kept the flow alive: expiries %+v, want one at 13 s", ex)
	}
}
