package userspace

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tcplab/tcplab/netem/impair"
)

// gsoPacket builds a TSO super-packet as a TUN with offloads delivers it:
// virtio header (NEEDS_CSUM, TCPV4, gso_size mss), IPv4, TCP, payload.
func gsoPacket(segs, mss int, last int) []byte {
	payload := (segs-1)*mss + last
	b := make([]byte, vnetHdrLen+40+payload)
	b[0] = vnetFlagNeedsCsum
	b[1] = gsoTCPv4
	binary.LittleEndian.PutUint16(b[2:], 40)
	binary.LittleEndian.PutUint16(b[4:], uint16(mss))
	binary.LittleEndian.PutUint16(b[6:], 20)
	binary.LittleEndian.PutUint16(b[8:], 16)
	ip := b[vnetHdrLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	binary.BigEndian.PutUint16(ip[4:], 1000)
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:20], 0)))
	tcp := ip[20:]
	binary.BigEndian.PutUint32(tcp[4:], 5000)
	tcp[12] = 5 << 4
	tcp[13] = 0x80 | 0x08 | 0x10 | 0x01 // CWR PSH ACK FIN
	for i := range ip[40:] {
		ip[40+i] = byte(i)
	}
	return b
}

func TestCut(t *testing.T) {
	src := pkt(gsoPacket(10, 1000, 500))
	l := parse(src)
	if !l.ok || l.segments != 10 || l.mss != 1000 || l.hdr != 40 || l.payload != 9500 {
		t.Fatalf("layout %+v", l)
	}
	dst := make([]byte, slotSize)
	n := cut(dst, src, &l, 3, 5)
	d := pkt(dst[:n])
	ip := d.ip()
	if got := binary.BigEndian.Uint16(ip[2:]); got != 40+2000 {
		t.Errorf("ip total length %d", got)
	}
	if fold(sum(ip[:20], 0)) != 0xffff {
		t.Errorf("ip header checksum invalid")
	}
	if id := binary.BigEndian.Uint16(ip[4:]); id != 1003 {
		t.Errorf("ip id %d, want 1003", id)
	}
	tcp := ip[20:]
	if seq := binary.BigEndian.Uint32(tcp[4:]); seq != 5000+3000 {
		t.Errorf("seq %d", seq)
	}
	if tcp[13] != 0x10 {
		t.Errorf("flags %#x: a middle run keeps only ACK", tcp[13])
	}
	if !bytes.Equal(ip[40:], src.ip()[40+3000:40+5000]) {
		t.Error("payload differs")
	}
	if d.gsoType() != gsoTCPv4 || d.gsoSize() != 1000 {
		t.Errorf("gso %d/%d", d.gsoType(), d.gsoSize())
	}
	// The last run keeps FIN and PSH; one segment is no longer GSO.
	n = cut(dst, src, &l, 9, 10)
	d = pkt(dst[:n])
	if d.ip()[33] != 0x10|0x08|0x01 || d.gsoType() != gsoNone || len(d.ip()) != 540 {
		t.Errorf("last run: flags %#x gso %d len %d", d.ip()[33], d.gsoType(), len(d.ip()))
	}
	// The partial checksum field holds the pseudo-header sum for the new length.
	want := fold(pseudo(d.ip(), 20, 520))
	if got := binary.BigEndian.Uint16(d.ip()[36:]); got != want {
		t.Errorf("pseudo-header sum %#x, want %#x", got, want)
	}
	// Completing the checksum gives a segment a receiver accepts.
	finishChecksum(d)
	if d.flags()&vnetFlagNeedsCsum != 0 {
		t.Error("checksum still partial")
	}
	tcpb := d.ip()[20:]
	if fold(sum(tcpb, pseudo(d.ip(), 20, len(tcpb)))) != 0xffff {
		t.Error("completed TCP checksum does not verify")
	}
}

// TestHandleLossCutsPerSegment: with loss, a 44-segment super-packet loses
// single segments, not the whole packet, and every byte that is not lost
// is forwarded exactly once.
func TestHandleLossCutsPerSegment(t *testing.T) {
	d := &direction{name: "test", wake: func() {}}
	d.set(impair.Impairment{Loss: 0.05, Seed: 1})
	segsIn, bytesOut := 0, 0
	var out []*slot
	for i := 0; i < 200; i++ {
		s := d.getSlot()
		src := gsoPacket(44, 1448, 1448)
		s.n = copy(s.buf[:], src)
		segsIn += 44
		d.handle(s, 0)
		out, _ = d.due(1, out[:0])
		for _, o := range out {
			bytesOut += len(pkt(o.buf[:o.n]).ip()) - 40
			d.sent(o, 1, nil)
		}
	}
	lost := d.c.DropLoss
	t.Logf("%d segments, %d lost (%.2f%%), forwarded %d", segsIn, lost, 100*float64(lost)/float64(segsIn), d.c.Forwarded)
	if d.c.Forwarded+lost != uint64(segsIn) {
		t.Errorf("forwarded %d + lost %d != %d", d.c.Forwarded, lost, segsIn)
	}
	if bytesOut != int(d.c.Forwarded)*1448 {
		t.Errorf("payload out %d, want %d", bytesOut, int(d.c.Forwarded)*1448)
	}
	if lost < 300 || lost > 600 {
		t.Errorf("lost %d of %d segments at 5%%", lost, segsIn)
	}
}

func TestRateSpacing(t *testing.T) {
	d := &direction{name: "test", wake: func() {}}
	d.set(impair.Impairment{RateBits: 8e6, Delay: 10 * time.Millisecond}) // 1 MB/s
	var dues []int64
	for i := 0; i < 3; i++ {
		s := d.getSlot()
		s.n = copy(s.buf[:], gsoPacket(10, 1000, 1000)) // 10 × (1000 + 40) wire bytes
		d.handle(s, 0)
	}
	out, _ := d.due(1<<62, nil)
	for _, o := range out {
		dues = append(dues, o.due)
	}
	// 10400 bytes at 1 MB/s = 10.4 ms each, after the 10 ms delay.
	want := []int64{20400000, 30800000, 41200000}
	for i := range want {
		if dues[i] != want[i] {
			t.Errorf("departures %v, want %v", dues, want)
			break
		}
	}
}

// BenchmarkForward is the per-packet cost of the scheduler for a 64 KB
// super-packet: parse, decide, queue, release (no system calls).
func BenchmarkForward(b *testing.B) {
	for _, c := range []struct {
		name string
		im   impair.Impairment
	}{{"plain", impair.Impairment{}}, {"delay+rate", impair.Impairment{Delay: time.Millisecond, RateBits: 2e9}}, {"loss1%", impair.Impairment{Loss: 0.01}}} {
		b.Run(c.name, func(b *testing.B) {
			d := &direction{name: "bench", wake: func() {}, flows: newFlowTable()}
			d.set(c.im)
			src := gsoPacket(45, 1448, 1448)
			out := make([]*slot, 0, 64)
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			// Warm the pool.
			for i := 0; i < 10; i++ {
				s := d.getSlot()
				s.n = copy(s.buf[:], src)
				d.handle(s, 0)
				out, _ = d.due(1<<62, out[:0])
				for _, o := range out {
					d.sent(o, 1<<62, nil)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := d.getSlot()
				s.n = copy(s.buf[:], src)
				d.handle(s, int64(i))
				out, _ = d.due(1<<62, out[:0])
				for _, o := range out {
					d.sent(o, 1<<62, nil)
				}
			}
		})
	}
}

// TestForwardAllocatesNothing: the forward path (parse, decide, queue,
// release) allocates nothing per packet once the pool is warm, plain, with
// a delay and rate, and with loss cutting super-packets into runs.
func TestForwardAllocatesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		im   impair.Impairment
	}{{"plain", impair.Impairment{}}, {"delay+rate", impair.Impairment{Delay: time.Millisecond, RateBits: 2e9}}, {"loss5%", impair.Impairment{Loss: 0.05}}, {"duplicate+corrupt", impair.Impairment{Duplicate: 0.05, Corrupt: 0.05}}} {
		d := &direction{name: "allocs", wake: func() {}, flows: newFlowTable()}
		d.set(c.im)
		src := gsoPacket(45, 1448, 1448)
		out := make([]*slot, 0, 256)
		var now int64
		step := func() {
			now += int64(time.Millisecond)
			s := d.getSlot()
			s.n = copy(s.buf[:], src)
			d.handle(s, now)
			out, _ = d.due(now+int64(time.Second), out[:0])
			for _, o := range out {
				d.sent(o, now, nil)
			}
		}
		for i := 0; i < 200; i++ { // warm the pool and the flow table
			step()
		}
		if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
			t.Errorf("%s: %.2f allocations per packet, want 0", c.name, allocs)
		}
		if d.c.Forwarded == 0 {
			t.Errorf("%s: nothing forwarded", c.name)
		}
	}
}

// TestQueueLimit: with a delay holding packets, the queue takes Limit
// packets and counts the rest as queue drops.
func TestQueueLimit(t *testing.T) {
	d := &direction{name: "test", wake: func() {}}
	d.set(impair.Impairment{Delay: time.Second, Limit: 10})
	for i := 0; i < 15; i++ {
		s := d.getSlot()
		if s == nil {
			t.Fatalf("no buffer for packet %d", i)
		}
		s.n = copy(s.buf[:], gsoPacket(2, 1000, 1000))
		d.handle(s, 0)
	}
	if d.queue.Len() != 10 || d.c.DropQueue != 5*2 {
		t.Errorf("queued %d, queue drops %d segments; want 10 queued and 10 segments dropped", d.queue.Len(), d.c.DropQueue)
	}
}

// TestRSTFor: the RST a rebooted host sends back swaps addresses and ports,
// takes its seq from the segment's ack (or acks a SYN's seq + 1), and carries
// valid IPv4 and TCP checksums; an RST gets no answer.
func TestRSTFor(t *testing.T) {
	mk := func(flags byte, payload int) pkt {
		b := make([]byte, vnetHdrLen+40+payload)
		ip := b[vnetHdrLen:]
		ip[0], ip[9] = 0x45, 6
		binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
		copy(ip[12:16], []byte{198, 18, 0, 1})
		copy(ip[16:20], []byte{198, 18, 0, 2})
		tcp := ip[20:]
		binary.BigEndian.PutUint16(tcp[0:], 5001)
		binary.BigEndian.PutUint16(tcp[2:], 40000)
		binary.BigEndian.PutUint32(tcp[4:], 1000)
		binary.BigEndian.PutUint32(tcp[8:], 7777)
		tcp[12], tcp[13] = 5<<4, flags
		return b
	}
	var out [vnetHdrLen + 40]byte
	p := mk(tcpACK, 100)
	l := parse(p)
	n := rstFor(p, &l, out[:])
	if n != vnetHdrLen+40 {
		t.Fatalf("length %d", n)
	}
	ip := out[vnetHdrLen:]
	tcp := ip[20:]
	if fold(sum(ip[:20], 0)) != 0xffff {
		t.Error("bad IPv4 checksum")
	}
	if fold(sum(tcp[:20], pseudo(ip, 20, 20))) != 0xffff {
		t.Error("bad TCP checksum")
	}
	if [4]byte(ip[12:16]) != [4]byte{198, 18, 0, 2} || binary.BigEndian.Uint16(tcp[0:]) != 40000 || binary.BigEndian.Uint16(tcp[2:]) != 5001 {
		t.Errorf("addresses or ports not swapped: % x", ip[:24])
	}
	if binary.BigEndian.Uint32(tcp[4:]) != 7777 || tcp[13] != tcpRST {
		t.Errorf("RST to an ACK: seq %d flags %#x, want 7777 RST", binary.BigEndian.Uint32(tcp[4:]), tcp[13])
	}
	syn := mk(tcpSYN, 0)
	l = parse(syn)
	rstFor(syn, &l, out[:])
	if binary.BigEndian.Uint32(tcp[8:]) != 1001 || tcp[13] != tcpRST|tcpACK {
		t.Errorf("RST to a SYN: ack %d flags %#x, want 1001 RST|ACK", binary.BigEndian.Uint32(tcp[8:]), tcp[13])
	}
	rst := mk(tcpRST, 0)
	l = parse(rst)
	if rstFor(rst, &l, out[:]) != 0 {
		t.Error("an RST was answered")
	}
}
