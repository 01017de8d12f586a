package tcpinfo

import (
	"encoding/binary"
	"fmt"
)

// MaxLen is the size of struct tcp_info on kernel 6.18, the newest layout this
// package decodes. Readers pass a larger buffer so that a newer kernel's longer
// struct is visible in Info.Len.
const MaxLen = 280

// Info is struct tcp_info from include/uapi/linux/tcp.h. A field is valid only
// when the kernel returned enough bytes to cover it: use Has. Fields the kernel
// did not return are zero in the struct but are never reported (see AppendJSON).
// Units are the kernel's: times in µs unless the name says ms, rates in bytes/s,
// windows and queues in bytes, cwnd and ssthresh in segments.
type Info struct {
	// Len is the number of bytes the kernel returned (optlen after the call).
	Len int `json:"len"`

	State       uint8 `json:"state"`       // off 0: TCP_ESTABLISHED=1, …
	CAState     uint8 `json:"ca_state"`    // off 1: Open, Disorder, CWR, Recovery, Loss
	Retransmits uint8 `json:"retransmits"` // off 2: consecutive RTO retransmits
	Probes      uint8 `json:"probes"`      // off 3: unanswered zero-window/keepalive probes
	Backoff     uint8 `json:"backoff"`     // off 4: RTO backoff exponent
	Options     uint8 `json:"options"`     // off 5: TCPI_OPT_* bits
	SndWscale   uint8 `json:"snd_wscale"`  // off 6 low nibble
	RcvWscale   uint8 `json:"rcv_wscale"`  // off 6 high nibble
	// DeliveryRateAppLimited is bit 0 of byte 7 (kernel 4.9): the last
	// delivery-rate sample was taken while the application had nothing to send.
	DeliveryRateAppLimited uint8 `json:"delivery_rate_app_limited"`
	// FastopenClientFail is bits 1–2 of byte 7 (kernel 5.5).
	FastopenClientFail uint8 `json:"fastopen_client_fail"`

	RTO    uint32 `json:"rto"`     // off 8, µs
	ATO    uint32 `json:"ato"`     // off 12, µs
	SndMSS uint32 `json:"snd_mss"` // off 16, bytes
	RcvMSS uint32 `json:"rcv_mss"` // off 20, bytes

	Unacked uint32 `json:"unacked"` // off 24, segments
	Sacked  uint32 `json:"sacked"`  // off 28
	Lost    uint32 `json:"lost"`    // off 32
	Retrans uint32 `json:"retrans"` // off 36
	Fackets uint32 `json:"fackets"` // off 40, always 0 on current kernels

	LastDataSent uint32 `json:"last_data_sent"` // off 44, ms ago
	LastAckSent  uint32 `json:"last_ack_sent"`  // off 48, always 0
	LastDataRecv uint32 `json:"last_data_recv"` // off 52, ms ago
	LastAckRecv  uint32 `json:"last_ack_recv"`  // off 56, ms ago

	PMTU        uint32 `json:"pmtu"`         // off 60
	RcvSsthresh uint32 `json:"rcv_ssthresh"` // off 64
	RTT         uint32 `json:"rtt"`          // off 68, smoothed RTT µs
	RTTVar      uint32 `json:"rttvar"`       // off 72, µs
	SndSsthresh uint32 `json:"snd_ssthresh"` // off 76, segments
	SndCwnd     uint32 `json:"snd_cwnd"`     // off 80, segments
	AdvMSS      uint32 `json:"advmss"`       // off 84
	Reordering  uint32 `json:"reordering"`   // off 88

	RcvRTT       uint32 `json:"rcv_rtt"`       // off 92, µs
	RcvSpace     uint32 `json:"rcv_space"`     // off 96, bytes
	TotalRetrans uint32 `json:"total_retrans"` // off 100

	PacingRate    uint64 `json:"pacing_rate"`     // off 104, bytes/s (3.15)
	MaxPacingRate uint64 `json:"max_pacing_rate"` // off 112, bytes/s; 2^64-1 = unset
	BytesAcked    uint64 `json:"bytes_acked"`     // off 120 (4.1)
	BytesReceived uint64 `json:"bytes_received"`  // off 128
	SegsOut       uint32 `json:"segs_out"`        // off 136 (4.2)
	SegsIn        uint32 `json:"segs_in"`         // off 140

	NotsentBytes uint32 `json:"notsent_bytes"` // off 144 (4.6)
	MinRTT       uint32 `json:"min_rtt"`       // off 148, µs
	DataSegsIn   uint32 `json:"data_segs_in"`  // off 152
	DataSegsOut  uint32 `json:"data_segs_out"` // off 156

	DeliveryRate uint64 `json:"delivery_rate"` // off 160, bytes/s (4.9)

	BusyTime      uint64 `json:"busy_time"`      // off 168, µs (4.10), advances in jiffies
	RwndLimited   uint64 `json:"rwnd_limited"`   // off 176, µs
	SndbufLimited uint64 `json:"sndbuf_limited"` // off 184, µs

	Delivered   uint32 `json:"delivered"`    // off 192 (4.18)
	DeliveredCE uint32 `json:"delivered_ce"` // off 196

	BytesSent    uint64 `json:"bytes_sent"`    // off 200 (4.19)
	BytesRetrans uint64 `json:"bytes_retrans"` // off 208
	DsackDups    uint32 `json:"dsack_dups"`    // off 216
	ReordSeen    uint32 `json:"reord_seen"`    // off 220

	RcvOOOPack uint32 `json:"rcv_ooopack"` // off 224 (5.4)
	SndWnd     uint32 `json:"snd_wnd"`     // off 228 (5.4): peer's advertised window, bytes

	RcvWnd uint32 `json:"rcv_wnd"` // off 232 (6.2): window we advertise, bytes
	Rehash uint32 `json:"rehash"`  // off 236

	TotalRTO           uint16 `json:"total_rto"`            // off 240 (6.7)
	TotalRTORecoveries uint16 `json:"total_rto_recoveries"` // off 242
	TotalRTOTime       uint32 `json:"total_rto_time"`       // off 244, ms

	ReceivedCE      uint32 `json:"received_ce"`        // off 248 (6.18, AccECN)
	DeliveredE1     uint32 `json:"delivered_e1_bytes"` // off 252
	DeliveredE0     uint32 `json:"delivered_e0_bytes"` // off 256
	DeliveredCEByte uint32 `json:"delivered_ce_bytes"` // off 260
	ReceivedE1      uint32 `json:"received_e1_bytes"`  // off 264
	ReceivedE0      uint32 `json:"received_e0_bytes"`  // off 268
	ReceivedCEByte  uint32 `json:"received_ce_bytes"`  // off 272
	// AccECNWord is the last 4 bytes (off 276). Kernel 6.18 reads it as u16
	// accecn_fail_mode + u16 accecn_opt_seen; 7.0 as bitfields. The length cannot
	// tell them apart, so the raw word is kept and the kernel version decides.
	AccECNWord uint32 `json:"accecn_word"`
}

// Field describes one tcp_info field: its JSON name, byte range and the kernel
// that added it. Fields lists every field in layout order.
type Field struct {
	Name   string
	Offset int
	Size   int
	Kernel string
	get    func(*Info) uint64
}

// End is the length the kernel must return for the field to be valid.
func (f Field) End() int { return f.Offset + f.Size }

// Value returns the field's value in i (zero when absent: check Has first).
func (f Field) Value(i *Info) uint64 { return f.get(i) }

// Fields is the layout of struct tcp_info, one entry per field, in offset order.
var Fields = []Field{
	{"state", 0, 1, "", func(i *Info) uint64 { return uint64(i.State) }},
	{"ca_state", 1, 1, "", func(i *Info) uint64 { return uint64(i.CAState) }},
	{"retransmits", 2, 1, "", func(i *Info) uint64 { return uint64(i.Retransmits) }},
	{"probes", 3, 1, "", func(i *Info) uint64 { return uint64(i.Probes) }},
	{"backoff", 4, 1, "", func(i *Info) uint64 { return uint64(i.Backoff) }},
	{"options", 5, 1, "", func(i *Info) uint64 { return uint64(i.Options) }},
	{"snd_wscale", 6, 1, "", func(i *Info) uint64 { return uint64(i.SndWscale) }},
	{"rcv_wscale", 6, 1, "", func(i *Info) uint64 { return uint64(i.RcvWscale) }},
	{"delivery_rate_app_limited", 7, 1, "4.9", func(i *Info) uint64 { return uint64(i.DeliveryRateAppLimited) }},
	{"fastopen_client_fail", 7, 1, "5.5", func(i *Info) uint64 { return uint64(i.FastopenClientFail) }},
	{"rto", 8, 4, "", func(i *Info) uint64 { return uint64(i.RTO) }},
	{"ato", 12, 4, "", func(i *Info) uint64 { return uint64(i.ATO) }},
	{"snd_mss", 16, 4, "", func(i *Info) uint64 { return uint64(i.SndMSS) }},
	{"rcv_mss", 20, 4, "", func(i *Info) uint64 { return uint64(i.RcvMSS) }},
	{"unacked", 24, 4, "", func(i *Info) uint64 { return uint64(i.Unacked) }},
	{"sacked", 28, 4, "", func(i *Info) uint64 { return uint64(i.Sacked) }},
	{"lost", 32, 4, "", func(i *Info) uint64 { return uint64(i.Lost) }},
	{"retrans", 36, 4, "", func(i *Info) uint64 { return uint64(i.Retrans) }},
	{"fackets", 40, 4, "", func(i *Info) uint64 { return uint64(i.Fackets) }},
	{"last_data_sent", 44, 4, "", func(i *Info) uint64 { return uint64(i.LastDataSent) }},
	{"last_ack_sent", 48, 4, "", func(i *Info) uint64 { return uint64(i.LastAckSent) }},
	{"last_data_recv", 52, 4, "", func(i *Info) uint64 { return uint64(i.LastDataRecv) }},
	{"last_ack_recv", 56, 4, "", func(i *Info) uint64 { return uint64(i.LastAckRecv) }},
	{"pmtu", 60, 4, "", func(i *Info) uint64 { return uint64(i.PMTU) }},
	{"rcv_ssthresh", 64, 4, "", func(i *Info) uint64 { return uint64(i.RcvSsthresh) }},
	{"rtt", 68, 4, "", func(i *Info) uint64 { return uint64(i.RTT) }},
	{"rttvar", 72, 4, "", func(i *Info) uint64 { return uint64(i.RTTVar) }},
	{"snd_ssthresh", 76, 4, "", func(i *Info) uint64 { return uint64(i.SndSsthresh) }},
	{"snd_cwnd", 80, 4, "", func(i *Info) uint64 { return uint64(i.SndCwnd) }},
	{"advmss", 84, 4, "", func(i *Info) uint64 { return uint64(i.AdvMSS) }},
	{"reordering", 88, 4, "", func(i *Info) uint64 { return uint64(i.Reordering) }},
	{"rcv_rtt", 92, 4, "", func(i *Info) uint64 { return uint64(i.RcvRTT) }},
	{"rcv_space", 96, 4, "", func(i *Info) uint64 { return uint64(i.RcvSpace) }},
	{"total_retrans", 100, 4, "", func(i *Info) uint64 { return uint64(i.TotalRetrans) }},
	{"pacing_rate", 104, 8, "3.15", func(i *Info) uint64 { return i.PacingRate }},
	{"max_pacing_rate", 112, 8, "3.15", func(i *Info) uint64 { return i.MaxPacingRate }},
	{"bytes_acked", 120, 8, "4.1", func(i *Info) uint64 { return i.BytesAcked }},
	{"bytes_received", 128, 8, "4.1", func(i *Info) uint64 { return i.BytesReceived }},
	{"segs_out", 136, 4, "4.2", func(i *Info) uint64 { return uint64(i.SegsOut) }},
	{"segs_in", 140, 4, "4.2", func(i *Info) uint64 { return uint64(i.SegsIn) }},
	{"notsent_bytes", 144, 4, "4.6", func(i *Info) uint64 { return uint64(i.NotsentBytes) }},
	{"min_rtt", 148, 4, "4.6", func(i *Info) uint64 { return uint64(i.MinRTT) }},
	{"data_segs_in", 152, 4, "4.6", func(i *Info) uint64 { return uint64(i.DataSegsIn) }},
	{"data_segs_out", 156, 4, "4.6", func(i *Info) uint64 { return uint64(i.DataSegsOut) }},
	{"delivery_rate", 160, 8, "4.9", func(i *Info) uint64 { return i.DeliveryRate }},
	{"busy_time", 168, 8, "4.10", func(i *Info) uint64 { return i.BusyTime }},
	{"rwnd_limited", 176, 8, "4.10", func(i *Info) uint64 { return i.RwndLimited }},
	{"sndbuf_limited", 184, 8, "4.10", func(i *Info) uint64 { return i.SndbufLimited }},
	{"delivered", 192, 4, "4.18", func(i *Info) uint64 { return uint64(i.Delivered) }},
	{"delivered_ce", 196, 4, "4.18", func(i *Info) uint64 { return uint64(i.DeliveredCE) }},
	{"bytes_sent", 200, 8, "4.19", func(i *Info) uint64 { return i.BytesSent }},
	{"bytes_retrans", 208, 8, "4.19", func(i *Info) uint64 { return i.BytesRetrans }},
	{"dsack_dups", 216, 4, "4.19", func(i *Info) uint64 { return uint64(i.DsackDups) }},
	{"reord_seen", 220, 4, "4.19", func(i *Info) uint64 { return uint64(i.ReordSeen) }},
	{"rcv_ooopack", 224, 4, "5.4", func(i *Info) uint64 { return uint64(i.RcvOOOPack) }},
	{"snd_wnd", 228, 4, "5.4", func(i *Info) uint64 { return uint64(i.SndWnd) }},
	{"rcv_wnd", 232, 4, "6.2", func(i *Info) uint64 { return uint64(i.RcvWnd) }},
	{"rehash", 236, 4, "6.2", func(i *Info) uint64 { return uint64(i.Rehash) }},
	{"total_rto", 240, 2, "6.7", func(i *Info) uint64 { return uint64(i.TotalRTO) }},
	{"total_rto_recoveries", 242, 2, "6.7", func(i *Info) uint64 { return uint64(i.TotalRTORecoveries) }},
	{"total_rto_time", 244, 4, "6.7", func(i *Info) uint64 { return uint64(i.TotalRTOTime) }},
	{"received_ce", 248, 4, "6.18", func(i *Info) uint64 { return uint64(i.ReceivedCE) }},
	{"delivered_e1_bytes", 252, 4, "6.18", func(i *Info) uint64 { return uint64(i.DeliveredE1) }},
	{"delivered_e0_bytes", 256, 4, "6.18", func(i *Info) uint64 { return uint64(i.DeliveredE0) }},
	{"delivered_ce_bytes", 260, 4, "6.18", func(i *Info) uint64 { return uint64(i.DeliveredCEByte) }},
	{"received_e1_bytes", 264, 4, "6.18", func(i *Info) uint64 { return uint64(i.ReceivedE1) }},
	{"received_e0_bytes", 268, 4, "6.18", func(i *Info) uint64 { return uint64(i.ReceivedE0) }},
	{"received_ce_bytes", 272, 4, "6.18", func(i *Info) uint64 { return uint64(i.ReceivedCEByte) }},
	{"accecn_word", 276, 4, "6.18", func(i *Info) uint64 { return uint64(i.AccECNWord) }},
}

// FieldByName returns the field called name.
func FieldByName(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Has reports whether the kernel returned the field called name. It panics on
// an unknown name: names are constants of the program, not user input.
func (i *Info) Has(name string) bool {
	f, ok := FieldByName(name)
	if !ok {
		panic("tcpinfo: unknown field " + name)
	}
	return i.Len >= f.End()
}

// HasChronos reports whether busy_time, rwnd_limited and sndbuf_limited are valid.
func (i *Info) HasChronos() bool { return i.Len >= 192 }

// HasSndWnd reports whether snd_wnd is valid (kernel 5.4).
func (i *Info) HasSndWnd() bool { return i.Len >= 232 }

// HasRcvWnd reports whether rcv_wnd is valid (kernel 6.2).
func (i *Info) HasRcvWnd() bool { return i.Len >= 236 }

// HasNotsent reports whether notsent_bytes and min_rtt are valid (kernel 4.6).
func (i *Info) HasNotsent() bool { return i.Len >= 152 }

// HasDeliveryRate reports whether delivery_rate is valid (kernel 4.9).
func (i *Info) HasDeliveryRate() bool { return i.Len >= 168 }

// HasPacing reports whether pacing_rate and max_pacing_rate are valid (3.15).
func (i *Info) HasPacing() bool { return i.Len >= 120 }

// Decode fills i from b, the bytes the kernel returned (len(b) is the returned
// length; bytes past MaxLen are ignored). Fields beyond len(b) are zeroed and
// reported absent. Decode never allocates.
func (i *Info) Decode(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("tcp_info: %d bytes, need at least 8", len(b))
	}
	var buf [MaxLen]byte
	// Copy whole fields only: a field cut by the returned length stays 0.
	copy(buf[:completeLen(len(b))], b)
	*i = Info{Len: len(b)}
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(buf[off:]) }
	u64 := func(off int) uint64 { return le.Uint64(buf[off:]) }
	i.State, i.CAState, i.Retransmits, i.Probes, i.Backoff, i.Options = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]
	i.SndWscale, i.RcvWscale = buf[6]&0x0f, buf[6]>>4
	i.DeliveryRateAppLimited, i.FastopenClientFail = buf[7]&1, (buf[7]>>1)&3
	i.RTO, i.ATO, i.SndMSS, i.RcvMSS = u32(8), u32(12), u32(16), u32(20)
	i.Unacked, i.Sacked, i.Lost, i.Retrans, i.Fackets = u32(24), u32(28), u32(32), u32(36), u32(40)
	i.LastDataSent, i.LastAckSent, i.LastDataRecv, i.LastAckRecv = u32(44), u32(48), u32(52), u32(56)
	i.PMTU, i.RcvSsthresh, i.RTT, i.RTTVar = u32(60), u32(64), u32(68), u32(72)
	i.SndSsthresh, i.SndCwnd, i.AdvMSS, i.Reordering = u32(76), u32(80), u32(84), u32(88)
	i.RcvRTT, i.RcvSpace, i.TotalRetrans = u32(92), u32(96), u32(100)
	i.PacingRate, i.MaxPacingRate, i.BytesAcked, i.BytesReceived = u64(104), u64(112), u64(120), u64(128)
	i.SegsOut, i.SegsIn = u32(136), u32(140)
	i.NotsentBytes, i.MinRTT, i.DataSegsIn, i.DataSegsOut = u32(144), u32(148), u32(152), u32(156)
	i.DeliveryRate = u64(160)
	i.BusyTime, i.RwndLimited, i.SndbufLimited = u64(168), u64(176), u64(184)
	i.Delivered, i.DeliveredCE = u32(192), u32(196)
	i.BytesSent, i.BytesRetrans, i.DsackDups, i.ReordSeen = u64(200), u64(208), u32(216), u32(220)
	i.RcvOOOPack, i.SndWnd, i.RcvWnd, i.Rehash = u32(224), u32(228), u32(232), u32(236)
	i.TotalRTO, i.TotalRTORecoveries, i.TotalRTOTime = le.Uint16(buf[240:]), le.Uint16(buf[242:]), u32(244)
	i.ReceivedCE, i.DeliveredE1, i.DeliveredE0, i.DeliveredCEByte = u32(248), u32(252), u32(256), u32(260)
	i.ReceivedE1, i.ReceivedE0, i.ReceivedCEByte, i.AccECNWord = u32(264), u32(268), u32(272), u32(276)
	return nil
}

// completeLen is the end of the last field that fits in n bytes.
func completeLen(n int) int {
	end := 0
	for k := range Fields {
		if e := Fields[k].End(); e <= n {
			end = e
		} else {
			break
		}
	}
	return end
}

// AppendJSON appends i as a JSON object holding "len" and only the fields the
// kernel returned. It allocates nothing when dst has room.
func (i *Info) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"len":`...)
	dst = appendUint(dst, uint64(i.Len))
	for k := range Fields {
		f := &Fields[k]
		if i.Len < f.End() {
			break
		}
		dst = append(dst, ',', '"')
		dst = append(dst, f.Name...)
		dst = append(dst, '"', ':')
		dst = appendUint(dst, f.get(i))
	}
	return append(dst, '}')
}
