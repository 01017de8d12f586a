package wire

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"sync"

	"github.com/tcplab/tcplab/record"
)

// MaxConns bounds the connections a Tracker keeps; beyond it new ones are
// counted (Dropped) and not followed. MaxKeptExchanges bounds the exchanges
// kept in their lists over all connections (each is counted all the same):
// together about 100 MB at most.
const (
	MaxConns         = 200_000
	MaxKeptExchanges = 500_000
)

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// The ends of a connection, as indexes.
const (
	client = 0
	server = 1
)

// key names a connection by its two ends (IPv4 address << 16 | port), the
// end on the sender's side of the link first.
type key struct{ s, r uint64 }

// The exchange phases of a connection.
const (
	phaseNone = iota
	phaseRequest
	phaseResponse
)

// conn is what the tracker knows of one connection. Times are monotonic ns.
type conn struct {
	id             int
	k              key
	clientIsSender bool
	mid            bool
	first, last    int64

	synSeen    bool
	synSeq     uint32
	synRetries int
	synAckSeen bool
	serverISN  uint32
	hsDone     bool
	hsT        int64

	// Per end: the sequence number of its first payload byte, whether it
	// is known, and how many bytes beyond it the end has sent.
	base    [2]uint32
	based   [2]bool
	sent    [2]uint64
	retrans uint64

	dataSeen bool
	lastData int64
	idleMax  int64

	phase     int
	exchanges int
	list      []exchange // the first record.MaxWireExchanges
	cur       exchange

	closed   bool
	closeBy  int
	closeRST bool
	closeT   int64
	fin      [2]bool
	finSeq   [2]uint32
	finAcked [2]bool
	ended    bool
}

// exchange is the exchange in progress.
type exchange struct {
	start, idleBefore   int64
	reqFirst, reqLast   int64
	respFirst, respLast int64
	reqBytes, respBytes uint64
	hasReq, hasResp     bool
}

// Tracker follows the TCP connections of one link. Observe may be called
// from several goroutines (the link's two directions).
type Tracker struct {
	mu      sync.Mutex
	conns   map[key]*conn
	done    []*conn // replaced on their ends by a newer connection
	next    int
	dropped int
	kept    int // exchanges kept in the connections' lists
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{conns: make(map[key]*conn, 64)} }

// Observe takes one IPv4 packet, from its IP header on (the payload may be
// cut off: lengths come from the header), sent from the sender's side of
// the link (fromSender) or the receiver's, seen at now (monotonic ns).
// Anything but TCP over IPv4 is ignored. It allocates nothing for a packet
// of a connection already followed.
func (t *Tracker) Observe(ip []byte, fromSender bool, now int64) {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 6 {
		return
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl+20 {
		return
	}
	tcp := ip[ihl:]
	thl := int(tcp[12]>>4) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total == 0 || total > 65535 { // a GSO super-packet may say 0
		total = len(ip)
	}
	payload := total - ihl - thl
	if thl < 20 || payload < 0 {
		return
	}
	src := uint64(binary.BigEndian.Uint32(ip[12:16]))<<16 | uint64(binary.BigEndian.Uint16(tcp[0:2]))
	dst := uint64(binary.BigEndian.Uint32(ip[16:20]))<<16 | uint64(binary.BigEndian.Uint16(tcp[2:4]))
	k := key{src, dst}
	if !fromSender {
		k = key{dst, src}
	}
	flags := tcp[13]
	seq := binary.BigEndian.Uint32(tcp[4:8])
	ack := binary.BigEndian.Uint32(tcp[8:12])

	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[k]
	if flags&flagSYN != 0 && flags&flagACK == 0 {
		switch {
		case c != nil && c.synSeen && seq == c.synSeq && !c.ended:
			if !c.hsDone {
				c.synRetries++
			}
			c.last = now
		default: // a new connection on these ends
			if c = t.open(k, now); c != nil {
				c.synSeen, c.synSeq, c.clientIsSender = true, seq, fromSender
				c.base[client], c.based[client] = seq+1, true
			}
		}
		return
	}
	if c == nil {
		if flags&flagRST != 0 {
			return // an answer to nothing followed
		}
		if c = t.open(k, now); c == nil {
			return
		}
		c.mid, c.clientIsSender = true, true
	}
	if c.ended {
		return
	}
	c.last = now
	end := server
	if fromSender == c.clientIsSender {
		end = client
	}
	if flags&flagSYN != 0 { // SYN/ACK
		if end == server && !c.synAckSeen {
			c.synAckSeen, c.serverISN = true, seq
			c.base[server], c.based[server] = seq+1, true
		}
		return
	}
	if !c.hsDone && c.synAckSeen && end == client && flags&flagACK != 0 && ack == c.serverISN+1 {
		c.hsDone, c.hsT = true, now
	}
	if flags&flagACK != 0 && c.fin[1-end] && int32(ack-(c.finSeq[1-end]+1)) >= 0 {
		c.finAcked[1-end] = true
	}
	if payload > 0 {
		if !c.based[end] {
			c.base[end], c.based[end] = seq, true
		}
		// The end's highest byte so far, as a 32-bit sequence offset; a
		// segment reaching past it carries new data.
		reach := seq + uint32(payload) - c.base[end]
		if d := int32(reach - uint32(c.sent[end])); d > 0 {
			c.sent[end] += uint64(d)
			c.retrans += uint64(payload - int(d))
			t.data(c, end, now, uint64(d))
		} else {
			c.retrans += uint64(payload)
		}
	}
	if flags&flagRST != 0 {
		c.closeOnce(end, true, now)
		c.ended = true
		return
	}
	if flags&flagFIN != 0 {
		c.closeOnce(end, false, now)
		if !c.fin[end] {
			c.fin[end], c.finSeq[end] = true, seq+uint32(payload)
		}
	}
	if c.finAcked[client] && c.finAcked[server] {
		c.ended = true
	}
}

// open starts following a connection on k, moving the one it replaces to
// done; nil when the tracker is full.
func (t *Tracker) open(k key, now int64) *conn {
	if t.next >= MaxConns {
		t.dropped++
		return nil
	}
	if old := t.conns[k]; old != nil {
		t.done = append(t.done, old)
	}
	c := &conn{id: t.next, k: k, first: now, last: now}
	t.next++
	t.conns[k] = c
	return c
}

func (c *conn) closeOnce(end int, rst bool, now int64) {
	if !c.closed {
		c.closed, c.closeBy, c.closeRST, c.closeT = true, end, rst, now
	}
}

// data counts n new bytes from end at now: a request's bytes (the client's)
// or a response's (the server's), starting an exchange where the data's
// direction turns back to the client's, or where the server speaks first.
func (t *Tracker) data(c *conn, end int, now int64, n uint64) {
	prev := c.first
	switch {
	case c.dataSeen:
		prev = c.lastData
	case c.hsDone:
		prev = c.hsT
	}
	gap := now - prev
	c.idleMax = max(c.idleMax, gap)
	c.dataSeen, c.lastData = true, now
	x := &c.cur
	if end == client {
		if c.phase != phaseRequest {
			c.startExchange(now, gap, &t.kept)
			c.phase = phaseRequest
			x.reqFirst, x.hasReq = now, true
		}
		x.reqBytes += n
		x.reqLast = now
		return
	}
	switch c.phase {
	case phaseNone:
		c.startExchange(now, gap, &t.kept)
		fallthrough
	case phaseRequest:
		c.phase = phaseResponse
		x.respFirst, x.hasResp = now, true
	}
	x.respBytes += n
	x.respLast = now
}

func (c *conn) startExchange(now, gap int64, kept *int) {
	c.flushExchange(kept)
	c.exchanges++
	c.cur = exchange{start: now, idleBefore: gap}
}

// flushExchange keeps the exchange in progress, while there is room in the
// connection's list and in the tracker's budget (kept counts them all).
func (c *conn) flushExchange(kept *int) {
	if c.exchanges == 0 || len(c.list) >= c.exchanges || len(c.list) >= record.MaxWireExchanges || *kept >= MaxKeptExchanges {
		return
	}
	*kept++
	c.list = append(c.list, c.cur)
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Dropped counts the connections not followed because the tracker was full.
func (t *Tracker) Dropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// Conns is every connection seen, in the order of their first packet, with
// times relative to start (monotonic ns: the run's t = 0); one still open
// is open at end.
func (t *Tracker) Conns(start, end int64) []record.WireConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := append([]*conn(nil), t.done...)
	for _, c := range t.conns {
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	out := make([]record.WireConn, len(all))
	for i, c := range all {
		out[i] = c.record(start, end, &t.kept)
	}
	return out
}

func (c *conn) record(start, end int64, kept *int) record.WireConn {
	sec := func(t int64) float64 { return float64(t-start) / 1e9 }
	cl, sv := c.k.s, c.k.r
	side := record.Side(record.RoleSender)
	if !c.clientIsSender {
		cl, sv, side = sv, cl, record.Side(record.RoleReceiver)
	}
	w := record.WireConn{Conn: c.id, Client: endpoint(cl), Server: endpoint(sv), ClientSide: side, OpenedS: sec(c.first), MidStream: c.mid,
		SYNRetries: c.synRetries, Exchanges: c.exchanges, BytesClient: c.sent[client], BytesServer: c.sent[server], Retransmitted: c.retrans,
		LastS: sec(c.last), SessionMs: ms(c.last - c.first)}
	if c.hsDone {
		v := ms(c.hsT - c.first)
		w.HandshakeMs = &v
	}
	c.flushExchange(kept)
	w.FirstExchanges = make([]record.WireExchange, len(c.list))
	for i, x := range c.list {
		e := record.WireExchange{StartS: sec(x.start), IdleBeforeMs: ms(x.idleBefore), RequestBytes: x.reqBytes, ResponseBytes: x.respBytes}
		if x.hasReq {
			e.RequestMs = ms(x.reqLast - x.reqFirst)
		}
		if x.hasResp {
			e.ResponseMs = ms(x.respLast - x.respFirst)
			if x.hasReq {
				v := ms(x.respFirst - x.reqLast)
				e.TTFBMs = &v
			}
		}
		w.FirstExchanges[i] = e
	}
	// Idle after the last data: until the close, or the run's end.
	until := end
	if c.closed {
		until = c.closeT
		w.Close = &record.WireClose{By: record.ConnEnds[c.closeBy], How: record.CloseFIN, AtS: sec(c.closeT)}
		if c.closeRST {
			w.Close.How = record.CloseRST
		}
	}
	from := c.first
	switch {
	case c.dataSeen:
		from = c.lastData
	case c.hsDone:
		from = c.hsT
	}
	idle := max(0, until-from)
	w.IdleAfterMs = ms(idle)
	w.IdleMaxMs = ms(max(c.idleMax, idle))
	return w
}

func endpoint(v uint64) string {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(v>>16))
	return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(v)).String()
}
