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
	// Shift and Bits place a bitfield inside its bytes (Bits 0: the whole
	// bytes are the field).
	Shift, Bits uint8
	get         func(*Info) uint64
	set         func(*Info, uint64)
}

// End is the length the kernel must return for the field to be valid.
func (f Field) End() int { return f.Offset + f.Size }

// Value returns the field's value in i (zero when absent: check Has first).
func (f Field) Value(i *Info) uint64 { return f.get(i) }

// Fields is the layout of struct tcp_info, one entry per field, in offset order.
var Fields = []Field{
	{"state", 0, 1, "", 0, 0, func(i *Info) uint64 { return uint64(i.State) }, func(i *Info, v uint64) { i.State = uint8(v) }},
	{"ca_state", 1, 1, "", 0, 0, func(i *Info) uint64 { return uint64(i.CAState) }, func(i *Info, v uint64) { i.CAState = uint8(v) }},
	{"retransmits", 2, 1, "", 0, 0, func(i *Info) uint64 { return uint64(i.Retransmits) }, func(i *Info, v uint64) { i.Retransmits = uint8(v) }},
	{"probes", 3, 1, "", 0, 0, func(i *Info) uint64 { return uint64(i.Probes) }, func(i *Info, v uint64) { i.Probes = uint8(v) }},
	{"backoff", 4, 1, "", 0, 0, func(i *Info) uint64 { return uint64(i.Backoff) }, func(i *Info, v uint64) { i.Backoff = uint8(v) }},
	{"options", 5, 1, "", 0, 0, func(i *Info) uint64 { return uint64(i.Options) }, func(i *Info, v uint64) { i.Options = uint8(v) }},
	{"snd_wscale", 6, 1, "", 0, 4, func(i *Info) uint64 { return uint64(i.SndWscale) }, func(i *Info, v uint64) { i.SndWscale = uint8(v) }},
	{"rcv_wscale", 6, 1, "", 4, 4, func(i *Info) uint64 { return uint64(i.RcvWscale) }, func(i *Info, v uint64) { i.RcvWscale = uint8(v) }},
	{"delivery_rate_app_limited", 7, 1, "4.9", 0, 1, func(i *Info) uint64 { return uint64(i.DeliveryRateAppLimited) }, func(i *Info, v uint64) { i.DeliveryRateAppLimited = uint8(v) }},
	{"fastopen_client_fail", 7, 1, "5.5", 1, 2, func(i *Info) uint64 { return uint64(i.FastopenClientFail) }, func(i *Info, v uint64) { i.FastopenClientFail = uint8(v) }},
	{"rto", 8, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RTO) }, func(i *Info, v uint64) { i.RTO = uint32(v) }},
	{"ato", 12, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.ATO) }, func(i *Info, v uint64) { i.ATO = uint32(v) }},
	{"snd_mss", 16, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.SndMSS) }, func(i *Info, v uint64) { i.SndMSS = uint32(v) }},
	{"rcv_mss", 20, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RcvMSS) }, func(i *Info, v uint64) { i.RcvMSS = uint32(v) }},
	{"unacked", 24, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.Unacked) }, func(i *Info, v uint64) { i.Unacked = uint32(v) }},
	{"sacked", 28, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.Sacked) }, func(i *Info, v uint64) { i.Sacked = uint32(v) }},
	{"lost", 32, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.Lost) }, func(i *Info, v uint64) { i.Lost = uint32(v) }},
	{"retrans", 36, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.Retrans) }, func(i *Info, v uint64) { i.Retrans = uint32(v) }},
	{"fackets", 40, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.Fackets) }, func(i *Info, v uint64) { i.Fackets = uint32(v) }},
	{"last_data_sent", 44, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.LastDataSent) }, func(i *Info, v uint64) { i.LastDataSent = uint32(v) }},
	{"last_ack_sent", 48, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.LastAckSent) }, func(i *Info, v uint64) { i.LastAckSent = uint32(v) }},
	{"last_data_recv", 52, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.LastDataRecv) }, func(i *Info, v uint64) { i.LastDataRecv = uint32(v) }},
	{"last_ack_recv", 56, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.LastAckRecv) }, func(i *Info, v uint64) { i.LastAckRecv = uint32(v) }},
	{"pmtu", 60, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.PMTU) }, func(i *Info, v uint64) { i.PMTU = uint32(v) }},
	{"rcv_ssthresh", 64, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RcvSsthresh) }, func(i *Info, v uint64) { i.RcvSsthresh = uint32(v) }},
	{"rtt", 68, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RTT) }, func(i *Info, v uint64) { i.RTT = uint32(v) }},
	{"rttvar", 72, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RTTVar) }, func(i *Info, v uint64) { i.RTTVar = uint32(v) }},
	{"snd_ssthresh", 76, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.SndSsthresh) }, func(i *Info, v uint64) { i.SndSsthresh = uint32(v) }},
	{"snd_cwnd", 80, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.SndCwnd) }, func(i *Info, v uint64) { i.SndCwnd = uint32(v) }},
	{"advmss", 84, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.AdvMSS) }, func(i *Info, v uint64) { i.AdvMSS = uint32(v) }},
	{"reordering", 88, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.Reordering) }, func(i *Info, v uint64) { i.Reordering = uint32(v) }},
	{"rcv_rtt", 92, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RcvRTT) }, func(i *Info, v uint64) { i.RcvRTT = uint32(v) }},
	{"rcv_space", 96, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.RcvSpace) }, func(i *Info, v uint64) { i.RcvSpace = uint32(v) }},
	{"total_retrans", 100, 4, "", 0, 0, func(i *Info) uint64 { return uint64(i.TotalRetrans) }, func(i *Info, v uint64) { i.TotalRetrans = uint32(v) }},
	{"pacing_rate", 104, 8, "3.15", 0, 0, func(i *Info) uint64 { return uint64(i.PacingRate) }, func(i *Info, v uint64) { i.PacingRate = uint64(v) }},
	{"max_pacing_rate", 112, 8, "3.15", 0, 0, func(i *Info) uint64 { return uint64(i.MaxPacingRate) }, func(i *Info, v uint64) { i.MaxPacingRate = uint64(v) }},
	{"bytes_acked", 120, 8, "4.1", 0, 0, func(i *Info) uint64 { return uint64(i.BytesAcked) }, func(i *Info, v uint64) { i.BytesAcked = uint64(v) }},
	{"bytes_received", 128, 8, "4.1", 0, 0, func(i *Info) uint64 { return uint64(i.BytesReceived) }, func(i *Info, v uint64) { i.BytesReceived = uint64(v) }},
	{"segs_out", 136, 4, "4.2", 0, 0, func(i *Info) uint64 { return uint64(i.SegsOut) }, func(i *Info, v uint64) { i.SegsOut = uint32(v) }},
	{"segs_in", 140, 4, "4.2", 0, 0, func(i *Info) uint64 { return uint64(i.SegsIn) }, func(i *Info, v uint64) { i.SegsIn = uint32(v) }},
	{"notsent_bytes", 144, 4, "4.6", 0, 0, func(i *Info) uint64 { return uint64(i.NotsentBytes) }, func(i *Info, v uint64) { i.NotsentBytes = uint32(v) }},
	{"min_rtt", 148, 4, "4.6", 0, 0, func(i *Info) uint64 { return uint64(i.MinRTT) }, func(i *Info, v uint64) { i.MinRTT = uint32(v) }},
	{"data_segs_in", 152, 4, "4.6", 0, 0, func(i *Info) uint64 { return uint64(i.DataSegsIn) }, func(i *Info, v uint64) { i.DataSegsIn = uint32(v) }},
	{"data_segs_out", 156, 4, "4.6", 0, 0, func(i *Info) uint64 { return uint64(i.DataSegsOut) }, func(i *Info, v uint64) { i.DataSegsOut = uint32(v) }},
	{"delivery_rate", 160, 8, "4.9", 0, 0, func(i *Info) uint64 { return uint64(i.DeliveryRate) }, func(i *Info, v uint64) { i.DeliveryRate = uint64(v) }},
	{"busy_time", 168, 8, "4.10", 0, 0, func(i *Info) uint64 { return uint64(i.BusyTime) }, func(i *Info, v uint64) { i.BusyTime = uint64(v) }},
	{"rwnd_limited", 176, 8, "4.10", 0, 0, func(i *Info) uint64 { return uint64(i.RwndLimited) }, func(i *Info, v uint64) { i.RwndLimited = uint64(v) }},
	{"sndbuf_limited", 184, 8, "4.10", 0, 0, func(i *Info) uint64 { return uint64(i.SndbufLimited) }, func(i *Info, v uint64) { i.SndbufLimited = uint64(v) }},
	{"delivered", 192, 4, "4.18", 0, 0, func(i *Info) uint64 { return uint64(i.Delivered) }, func(i *Info, v uint64) { i.Delivered = uint32(v) }},
	{"delivered_ce", 196, 4, "4.18", 0, 0, func(i *Info) uint64 { return uint64(i.DeliveredCE) }, func(i *Info, v uint64) { i.DeliveredCE = uint32(v) }},
	{"bytes_sent", 200, 8, "4.19", 0, 0, func(i *Info) uint64 { return uint64(i.BytesSent) }, func(i *Info, v uint64) { i.BytesSent = uint64(v) }},
	{"bytes_retrans", 208, 8, "4.19", 0, 0, func(i *Info) uint64 { return uint64(i.BytesRetrans) }, func(i *Info, v uint64) { i.BytesRetrans = uint64(v) }},
	{"dsack_dups", 216, 4, "4.19", 0, 0, func(i *Info) uint64 { return uint64(i.DsackDups) }, func(i *Info, v uint64) { i.DsackDups = uint32(v) }},
	{"reord_seen", 220, 4, "4.19", 0, 0, func(i *Info) uint64 { return uint64(i.ReordSeen) }, func(i *Info, v uint64) { i.ReordSeen = uint32(v) }},
	{"rcv_ooopack", 224, 4, "5.4", 0, 0, func(i *Info) uint64 { return uint64(i.RcvOOOPack) }, func(i *Info, v uint64) { i.RcvOOOPack = uint32(v) }},
	{"snd_wnd", 228, 4, "5.4", 0, 0, func(i *Info) uint64 { return uint64(i.SndWnd) }, func(i *Info, v uint64) { i.SndWnd = uint32(v) }},
	{"rcv_wnd", 232, 4, "6.2", 0, 0, func(i *Info) uint64 { return uint64(i.RcvWnd) }, func(i *Info, v uint64) { i.RcvWnd = uint32(v) }},
	{"rehash", 236, 4, "6.2", 0, 0, func(i *Info) uint64 { return uint64(i.Rehash) }, func(i *Info, v uint64) { i.Rehash = uint32(v) }},
	{"total_rto", 240, 2, "6.7", 0, 0, func(i *Info) uint64 { return uint64(i.TotalRTO) }, func(i *Info, v uint64) { i.TotalRTO = uint16(v) }},
	{"total_rto_recoveries", 242, 2, "6.7", 0, 0, func(i *Info) uint64 { return uint64(i.TotalRTORecoveries) }, func(i *Info, v uint64) { i.TotalRTORecoveries = uint16(v) }},
	{"total_rto_time", 244, 4, "6.7", 0, 0, func(i *Info) uint64 { return uint64(i.TotalRTOTime) }, func(i *Info, v uint64) { i.TotalRTOTime = uint32(v) }},
	{"received_ce", 248, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.ReceivedCE) }, func(i *Info, v uint64) { i.ReceivedCE = uint32(v) }},
	{"delivered_e1_bytes", 252, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.DeliveredE1) }, func(i *Info, v uint64) { i.DeliveredE1 = uint32(v) }},
	{"delivered_e0_bytes", 256, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.DeliveredE0) }, func(i *Info, v uint64) { i.DeliveredE0 = uint32(v) }},
	{"delivered_ce_bytes", 260, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.DeliveredCEByte) }, func(i *Info, v uint64) { i.DeliveredCEByte = uint32(v) }},
	{"received_e1_bytes", 264, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.ReceivedE1) }, func(i *Info, v uint64) { i.ReceivedE1 = uint32(v) }},
	{"received_e0_bytes", 268, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.ReceivedE0) }, func(i *Info, v uint64) { i.ReceivedE0 = uint32(v) }},
	{"received_ce_bytes", 272, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.ReceivedCEByte) }, func(i *Info, v uint64) { i.ReceivedCEByte = uint32(v) }},
	{"accecn_word", 276, 4, "6.18", 0, 0, func(i *Info) uint64 { return uint64(i.AccECNWord) }, func(i *Info, v uint64) { i.AccECNWord = uint32(v) }},
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
func (i *Info) HasChronos() bool { return i.Len >= endChronos }

// HasSndWnd reports whether snd_wnd is valid (kernel 5.4).
func (i *Info) HasSndWnd() bool { return i.Len >= endSndWnd }

// HasRcvWnd reports whether rcv_wnd is valid (kernel 6.2).
func (i *Info) HasRcvWnd() bool { return i.Len >= endRcvWnd }

// HasNotsent reports whether notsent_bytes and min_rtt are valid (kernel 4.6).
func (i *Info) HasNotsent() bool { return i.Len >= endNotsent }

// HasDeliveryRate reports whether delivery_rate is valid (kernel 4.9).
func (i *Info) HasDeliveryRate() bool { return i.Len >= endDeliveryRate }

// HasPacing reports whether pacing_rate and max_pacing_rate are valid (3.15).
func (i *Info) HasPacing() bool { return i.Len >= endPacing }

// The lengths the Has… methods check, from the Fields table.
var (
	endChronos      = mustEnd("sndbuf_limited")
	endSndWnd       = mustEnd("snd_wnd")
	endRcvWnd       = mustEnd("rcv_wnd")
	endNotsent      = mustEnd("min_rtt")
	endDeliveryRate = mustEnd("delivery_rate")
	endPacing       = mustEnd("max_pacing_rate")
)

func mustEnd(name string) int {
	f, ok := FieldByName(name)
	if !ok {
		panic("tcpinfo: unknown field " + name)
	}
	return f.End()
}

// Decode fills i from b, the bytes the kernel returned (len(b) is the returned
// length; bytes past MaxLen are ignored). Fields beyond len(b) are zeroed and
// reported absent. Decode never allocates.
func (i *Info) Decode(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("tcp_info: %d bytes, need at least 8", len(b))
	}
	*i = Info{Len: len(b)}
	n := completeLen(len(b))
	le := binary.LittleEndian
	for k := range Fields {
		f := &Fields[k]
		if f.End() > n {
			break // a field cut by the returned length stays 0
		}
		var v uint64
		switch f.Size {
		case 1:
			v = uint64(b[f.Offset])
		case 2:
			v = uint64(le.Uint16(b[f.Offset:]))
		case 4:
			v = uint64(le.Uint32(b[f.Offset:]))
		case 8:
			v = le.Uint64(b[f.Offset:])
		}
		if f.Bits > 0 {
			v = v >> f.Shift & (1<<f.Bits - 1)
		}
		f.set(i, v)
	}
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
