package userspace

import "encoding/binary"

// pkt views one packet as read from a TUN with IFF_VNET_HDR: the virtio
// header, then an IP packet.
type pkt []byte

func (p pkt) flags() byte     { return p[0] }
func (p pkt) gsoType() byte   { return p[1] }
func (p pkt) gsoSize() int    { return int(binary.LittleEndian.Uint16(p[4:])) }
func (p pkt) csumStart() int  { return int(binary.LittleEndian.Uint16(p[6:])) }
func (p pkt) csumOffset() int { return int(binary.LittleEndian.Uint16(p[8:])) }
func (p pkt) ip() []byte      { return p[vnetHdrLen:] }
func (p pkt) setGSO(t byte, size int) {
	p[1] = t
	binary.LittleEndian.PutUint16(p[4:], uint16(size))
	if t == gsoNone {
		binary.LittleEndian.PutUint16(p[2:], 0)
	}
}

// layout describes a TCP/IPv4 packet's headers. ok is false for anything
// else (IPv6, UDP, ICMP, fragments): those are handled as one unit.
type layout struct {
	ok       bool
	ipHL     int // IPv4 header length
	hdr      int // IPv4 + TCP header length
	payload  int // TCP payload bytes
	mss      int // segment size (gso_size), payload when not GSO
	segments int
}

func parse(p pkt) layout {
	var l layout
	ip := p.ip()
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 6 {
		return layout{segments: 1}
	}
	l.ipHL = int(ip[0]&0x0f) * 4
	if l.ipHL < 20 || len(ip) < l.ipHL+20 {
		return layout{segments: 1}
	}
	tcpHL := int(ip[l.ipHL+12]>>4) * 4
	if tcpHL < 20 || len(ip) < l.ipHL+tcpHL {
		return layout{segments: 1}
	}
	l.hdr = l.ipHL + tcpHL
	l.payload = len(ip) - l.hdr
	l.ok = true
	l.segments = 1
	l.mss = l.payload
	if p.gsoType()&^gsoECN == gsoTCPv4 && p.gsoSize() > 0 && l.payload > 0 {
		l.mss = p.gsoSize()
		l.segments = (l.payload + l.mss - 1) / l.mss
	}
	return l
}

// wireBytes is what segments [a, b) of a packet with layout l weigh on the
// wire: each segment repeats the headers.
func (l *layout) wireBytes(a, b int, overhead int32) int {
	if !l.ok {
		return 0
	}
	pay := l.payloadOf(a, b)
	return pay + (b-a)*(l.hdr+int(overhead))
}

func (l *layout) payloadOf(a, b int) int {
	end := b * l.mss
	if end > l.payload {
		end = l.payload
	}
	return end - a*l.mss
}

// cut writes segments [a, b) of src (layout l) into dst as one packet with
// rewritten headers and returns its length. dst must hold vnetHdrLen +
// l.hdr + the run's payload.
func cut(dst []byte, src pkt, l *layout, a, b int) int {
	ip := src.ip()
	pay := l.payloadOf(a, b)
	n := vnetHdrLen + l.hdr + pay
	copy(dst[:vnetHdrLen+l.hdr], src[:vnetHdrLen+l.hdr])
	copy(dst[vnetHdrLen+l.hdr:n], ip[l.hdr+a*l.mss:l.hdr+a*l.mss+pay])
	d := pkt(dst[:n])
	if b-a == 1 {
		d.setGSO(gsoNone, 0)
	}
	dip := d.ip()
	binary.BigEndian.PutUint16(dip[2:], uint16(l.hdr+pay))
	id := binary.BigEndian.Uint16(ip[4:])
	binary.BigEndian.PutUint16(dip[4:], id+uint16(a))
	dip[10], dip[11] = 0, 0
	binary.BigEndian.PutUint16(dip[10:], ^fold(sum(dip[:l.ipHL], 0)))
	tcp := dip[l.ipHL:]
	seq := binary.BigEndian.Uint32(tcp[4:])
	binary.BigEndian.PutUint32(tcp[4:], seq+uint32(a*l.mss))
	if a > 0 {
		tcp[13] &^= 0x80 // CWR only on the first segment
	}
	if b < l.segments {
		tcp[13] &^= 0x01 | 0x08 // FIN and PSH only on the last
	}
	if src.flags()&vnetFlagNeedsCsum != 0 {
		// CHECKSUM_PARTIAL: the field holds the pseudo-header sum, which
		// covers the TCP length.
		binary.BigEndian.PutUint16(tcp[16:], fold(pseudo(dip, l.ipHL, len(tcp))))
	}
	return n
}

// pseudo sums the TCP/IPv4 pseudo-header.
func pseudo(ip []byte, ipHL, tcpLen int) uint32 {
	s := sum(ip[12:20], 0)
	return s + uint32(ip[9]) + uint32(tcpLen)
}

// sum adds b as big-endian 16-bit words to s (one's complement, unfolded).
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// finishChecksum completes a CHECKSUM_PARTIAL packet's transport checksum in
// software (as the kernel's skb_checksum_help) and clears the flag, so that a
// later change to its bytes is caught by the receiver.
func finishChecksum(p pkt) {
	if p.flags()&vnetFlagNeedsCsum == 0 {
		return
	}
	start, off := p.csumStart(), p.csumOffset()
	ip := p.ip()
	if start+off+2 > len(ip) {
		return
	}
	c := ^fold(sum(ip[start:], 0))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(ip[start+off:], c)
	p[0] &^= vnetFlagNeedsCsum
}

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// rstFor writes into out (vnet header + IPv4 + TCP, 50 bytes) the RST a host
// without the connection answers p with (RFC 793: seq = the segment's ack
// if it has one, else 0 with ack = its seq + length), and returns its
// length; 0 when p is not TCP/IPv4 or is itself an RST.
func rstFor(p pkt, l *layout, out []byte) int {
	if !l.ok {
		return 0
	}
	ip := p.ip()
	tcp := ip[l.ipHL:]
	flags := tcp[13]
	if flags&tcpRST != 0 || len(out) < vnetHdrLen+40 {
		return 0
	}
	for i := range out[:vnetHdrLen+40] {
		out[i] = 0
	}
	rip := out[vnetHdrLen : vnetHdrLen+20]
	rtcp := out[vnetHdrLen+20 : vnetHdrLen+40]
	rip[0] = 0x45
	binary.BigEndian.PutUint16(rip[2:], 40)
	rip[6] = 0x40 // don't fragment
	rip[8] = 64
	rip[9] = 6
	copy(rip[12:16], ip[16:20]) // from the packet's destination
	copy(rip[16:20], ip[12:16]) // to its source
	binary.BigEndian.PutUint16(rip[10:], ^fold(sum(rip, 0)))
	copy(rtcp[0:2], tcp[2:4]) // ports swapped
	copy(rtcp[2:4], tcp[0:2])
	if flags&tcpACK != 0 {
		copy(rtcp[4:8], tcp[8:12]) // seq = their ack
		rtcp[13] = tcpRST
	} else {
		seqLen := uint32(l.payload)
		if flags&tcpSYN != 0 {
			seqLen++
		}
		if flags&tcpFIN != 0 {
			seqLen++
		}
		binary.BigEndian.PutUint32(rtcp[8:], binary.BigEndian.Uint32(tcp[4:8])+seqLen)
		rtcp[13] = tcpRST | tcpACK
	}
	rtcp[12] = 5 << 4
	binary.BigEndian.PutUint16(rtcp[16:], ^fold(sum(rtcp, pseudo(rip, 20, 20))))
	return vnetHdrLen + 40
}
