package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/tcplab/tcplab/record"
)

var (
	cli = netip.MustParseAddrPort("198.18.0.1:40000")
	srv = netip.MustParseAddrPort("198.18.0.2:8080")
)

// hdr builds the headers of an IPv4/TCP packet carrying payload bytes (the
// payload itself is cut off, as a packet socket's snap length does).
func hdr(src, dst netip.AddrPort, flags byte, seq, ack uint32, payload int) []byte {
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(40+payload))
	b[9] = 6
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:2], src.Port())
	binary.BigEndian.PutUint16(t[2:4], dst.Port())
	binary.BigEndian.PutUint32(t[4:8], seq)
	binary.BigEndian.PutUint32(t[8:12], ack)
	t[12] = 5 << 4
	t[13] = flags
	return b
}

// session drives a tracker with one client (on the sender's side unless
// clientOnReceiver) and one server, keeping both ends' sequence numbers.
type session struct {
	tr               *Tracker
	c, s             netip.AddrPort
	cseq, sseq       uint32
	clientOnReceiver bool
}

func (x *session) send(fromClient bool, flags byte, n int, at int64) {
	src, dst, seq, ack := x.c, x.s, &x.cseq, x.sseq
	if !fromClient {
		src, dst, seq, ack = x.s, x.c, &x.sseq, x.cseq
	}
	x.tr.Observe(hdr(src, dst, flags, *seq, ack, n), fromClient != x.clientOnReceiver, at)
	*seq += uint32(n)
	if flags&(flagSYN|flagFIN) != 0 {
		*seq++
	}
}

func (x *session) handshake(at, rtt int64) {
	x.send(true, flagSYN, 0, at)
	x.send(false, flagSYN|flagACK, 0, at+rtt/2)
	x.send(true, flagACK, 0, at+rtt)
}

const ms1 = int64(1e6)

func TestKeepAliveConnection(t *testing.T) {
	x := &session{tr: NewTracker(), c: cli, s: srv, cseq: 1000, sseq: 0xfffffff0} // the server's numbers wrap
	x.handshake(10*ms1, 20*ms1)
	at := 40 * ms1
	for i := 0; i < 3; i++ {
		x.send(true, flagACK, 200, at)
		x.send(false, flagACK, 0, at+10*ms1)
		x.send(false, flagACK, 1448, at+25*ms1)
		x.send(false, flagACK, 1448, at+26*ms1)
		x.send(true, flagACK, 0, at+36*ms1)
		at += 500 * ms1
	}
	x.send(true, flagFIN|flagACK, 0, at)
	x.send(false, flagFIN|flagACK, 0, at+10*ms1)
	x.send(true, flagACK, 0, at+20*ms1)
	conns := x.tr.Conns(0, 3000*ms1)
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1: %+v", len(conns), conns)
	}
	c := conns[0]
	if c.Client != cli.String() || c.Server != srv.String() || c.ClientSide != record.RoleSender || c.MidStream {
		t.Errorf("ends %s → %s (%s, mid %v)", c.Client, c.Server, c.ClientSide, c.MidStream)
	}
	if c.HandshakeMs == nil || *c.HandshakeMs != 20 || c.OpenedS != 0.01 {
		t.Errorf("handshake %v ms opened %v, want 20 ms at 0.01 s", c.HandshakeMs, c.OpenedS)
	}
	if c.Exchanges != 3 || len(c.FirstExchanges) != 3 || c.BytesClient != 600 || c.BytesServer != 3*2896 {
		t.Errorf("%d exchanges (%d kept), bytes %d / %d; want 3, 600 / %d", c.Exchanges, len(c.FirstExchanges), c.BytesClient, c.BytesServer, 3*2896)
	}
	e := c.FirstExchanges[1]
	if e.RequestBytes != 200 || e.ResponseBytes != 2896 || e.TTFBMs == nil || *e.TTFBMs != 25 || e.ResponseMs != 1 || e.IdleBeforeMs != 474 {
		t.Errorf("second exchange %+v (ttfb %v), want 200 → 2896 bytes, ttfb 25 ms, response 1 ms, idle before 474 ms", e, *e.TTFBMs)
	}
	if c.Close == nil || c.Close.By != record.EndClient || c.Close.How != record.CloseFIN || c.Close.AtS != 1.54 {
		t.Errorf("close %+v, want the client's FIN at 1.54 s", c.Close)
	}
	if c.IdleMaxMs != 474 || c.IdleAfterMs != 474 || c.SessionMs != 1550 {
		t.Errorf("idle max %v after %v session %v; want 474, 474, 1550", c.IdleMaxMs, c.IdleAfterMs, c.SessionMs)
	}
}

func TestChurnServerCloses(t *testing.T) {
	tr := NewTracker()
	for i := 0; i < 5; i++ {
		// The same client port again: TIME_WAIT is on the server (it closed).
		x := &session{tr: tr, c: cli, s: srv, cseq: uint32(i) * 7777, sseq: uint32(i) * 99, clientOnReceiver: true}
		at := int64(i) * 100 * ms1
		x.handshake(at, 2*ms1)
		x.send(true, flagACK, 100, at+3*ms1)
		x.send(false, flagACK|flagFIN, 5000, at+9*ms1)
		x.send(true, flagACK|flagFIN, 0, at+10*ms1)
		x.send(false, flagACK, 0, at+11*ms1)
		x.send(false, flagACK, 0, at+50*ms1) // a late duplicate: after the end
	}
	conns := tr.Conns(0, ms1*1000)
	if len(conns) != 5 {
		t.Fatalf("%d connections, want 5", len(conns))
	}
	for i, c := range conns {
		if c.Conn != i || c.ClientSide != record.RoleReceiver || c.Client != cli.String() || c.Exchanges != 1 || c.Close == nil || c.Close.By != record.EndServer || c.Close.How != record.CloseFIN || c.SessionMs != 11 {
			t.Errorf("conn %d: %+v close %+v; want receiver-side client, 1 exchange, closed by the server's FIN, 11 ms", i, c, c.Close)
		}
	}
}

func TestRefusedRetriedAndReset(t *testing.T) {
	tr := NewTracker()
	x := &session{tr: tr, c: cli, s: srv, cseq: 5}
	x.send(true, flagSYN, 0, 0)
	x.cseq--
	x.send(true, flagSYN, 0, 1000*ms1) // retransmitted
	x.tr.Observe(hdr(srv, cli, flagRST|flagACK, 0, x.cseq, 0), false, 1001*ms1)
	y := &session{tr: tr, c: netip.MustParseAddrPort("198.18.0.1:40001"), s: srv, cseq: 9, sseq: 70}
	y.handshake(2000*ms1, 4*ms1)
	y.send(true, flagACK, 1448, 2010*ms1)
	y.cseq -= 1448
	y.send(true, flagACK, 1448, 2210*ms1) // retransmission: not new data
	y.send(true, flagACK|flagRST, 0, 2300*ms1)
	conns := tr.Conns(0, 3000*ms1)
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	a, b := conns[0], conns[1]
	if a.SYNRetries != 1 || a.HandshakeMs != nil || a.Close == nil || a.Close.By != record.EndServer || a.Close.How != record.CloseRST {
		t.Errorf("refused: %+v close %+v; want 1 SYN retry, no handshake, the server's RST", a, a.Close)
	}
	if b.BytesClient != 1448 || b.Retransmitted != 1448 || b.Close.By != record.EndClient || b.Close.How != record.CloseRST || b.Exchanges != 1 {
		t.Errorf("reset: %+v close %+v; want 1448 bytes once, 1448 retransmitted, the client's RST", b, b.Close)
	}
}

func TestMidStreamAndOpenAtEnd(t *testing.T) {
	tr := NewTracker()
	tr.Observe(hdr(cli, srv, flagACK, 12345, 1, 1000), true, 5*ms1)
	tr.Observe(hdr(cli, srv, flagACK, 13345, 1, 1000), true, 6*ms1)
	tr.Observe([]byte{0x60, 0, 0}, true, 7*ms1) // not IPv4: ignored
	conns := tr.Conns(0, 106*ms1)
	if len(conns) != 1 || !conns[0].MidStream || conns[0].BytesClient != 2000 || conns[0].Close != nil || conns[0].IdleAfterMs != 100 {
		t.Fatalf("%+v; want one mid-stream connection, 2000 bytes, open, idle 100 ms after", conns)
	}
}

// TestObserveAllocatesNothing: a packet of a followed connection costs no
// allocation (the link calls Observe for every packet).
func TestObserveAllocatesNothing(t *testing.T) {
	tr := NewTracker()
	x := &session{tr: tr, c: cli, s: srv}
	x.handshake(0, ms1)
	x.send(true, flagACK, 100, 2*ms1)
	p := hdr(srv, cli, flagACK, x.sseq, x.cseq, 1448)
	seq := x.sseq
	at := 3 * ms1
	allocs := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint32(p[24:28], seq)
		seq += 1448
		at += 1000
		tr.Observe(p, false, at)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet, want 0", allocs)
	}
}

func BenchmarkObserve(b *testing.B) {
	tr := NewTracker()
	x := &session{tr: tr, c: cli, s: srv}
	x.handshake(0, ms1)
	p := hdr(cli, srv, flagACK, x.cseq, x.sseq, 1448)
	seq := x.cseq
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint32(p[24:28], seq)
		seq += 1448
		tr.Observe(p, true, int64(i))
	}
}

// FuzzObserve: any bytes, either way, never panic, and the record keeps
// its invariants.
func FuzzObserve(f *testing.F) {
	f.Add(hdr(cli, srv, flagSYN, 1, 0, 0), hdr(srv, cli, flagSYN|flagACK, 9, 2, 0), hdr(cli, srv, flagACK|flagFIN, 2, 10, 300))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		tr := NewTracker()
		for i, p := range [][]byte{a, b, c, a, c} {
			tr.Observe(p, i%2 == 0, int64(i)*ms1)
		}
		for _, w := range tr.Conns(0, 10*ms1) {
			if w.SessionMs < 0 || w.IdleMaxMs < w.IdleAfterMs || len(w.FirstExchanges) > w.Exchanges {
				t.Errorf("broken record %+v", w)
			}
		}
	})
}

// TestExchangeBudget: past MaxKeptExchanges over all connections no more
// exchanges are kept in the lists, and every one is still counted.
func TestExchangeBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("1M packets")
	}
	tr := NewTracker()
	conns := MaxKeptExchanges/record.MaxWireExchanges + 100
	for i := 0; i < conns; i++ {
		c := netip.AddrPortFrom(cli.Addr(), uint16(1024+i%60000))
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(2 + i/60000)}), 80)
		x := &session{tr: tr, c: c, s: s}
		x.handshake(0, ms1)
		for j := 0; j < record.MaxWireExchanges; j++ {
			x.send(true, flagACK, 10, int64(j+2)*ms1)
			x.send(false, flagACK, 10, int64(j+2)*ms1+1)
		}
	}
	var kept, counted int
	for _, w := range tr.Conns(0, ms1) {
		kept += len(w.FirstExchanges)
		counted += w.Exchanges
	}
	if kept != MaxKeptExchanges || counted != conns*record.MaxWireExchanges {
		t.Errorf("kept %d exchanges, counted %d; want %d kept, %d counted", kept, counted, MaxKeptExchanges, conns*record.MaxWireExchanges)
	}
}
