package record

import "github.com/tcplab/tcplab/internal/vocab"

// The two ends of a run (untyped: a Sample's side is a plain string).
const (
	RoleSender   = "sender"
	RoleReceiver = "receiver"
	// SideLink is the side of the link's own events (timeline changes,
	// the middlebox).
	SideLink = "link"
	// SideWatched is the side of a socket tcplab watch sampled on a live
	// host: one end of a connection whose other end is elsewhere. Whether
	// it sent or received is read from its data when it is judged.
	SideWatched = "watched"
)

// Side is who recorded an event: one of the two ends or the link.
type Side string

// Sides is the one table of sides.
var Sides = []Side{RoleSender, RoleReceiver, SideLink, SideWatched}

// MarshalText writes the side's name.
func (s Side) MarshalText() ([]byte, error) { return []byte(s), nil }

// UnmarshalText reads a side's name and refuses any other text.
func (s *Side) UnmarshalText(b []byte) error { return vocab.Parse(s, Sides, string(b), "side") }

// EventKind is what an event of events.jsonl records.
type EventKind string

// EventKinds is the one table of event kinds.
var EventKinds = []EventKind{EventListening, EventConnected, EventSocket, EventClosed, EventError, EventStats, EventTimeline,
	EventPolicyReset, EventTotal, EventRefuse, EventLag, EventConnecting, EventConnectFailed, EventMiddlebox, EventMiddleboxRefused, EventExecStarted, EventExecExited, EventHTTP}

// MarshalText writes the kind's name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k), nil }

// UnmarshalText reads a kind's name and refuses any other text.
func (k *EventKind) UnmarshalText(b []byte) error {
	return vocab.Parse(k, EventKinds, string(b), "event kind")
}

// TimelineStep is a timeline entry starting or ending.
type TimelineStep struct {
	Entry  int        `json:"entry"`
	Start  bool       `json:"start"`
	Change ChangeKind `json:"change"`
}

// ChangeKind is what a timeline entry changes.
type ChangeKind string

// The kinds of timeline change.
const (
	ChangeLink      ChangeKind = "link"
	ChangePartition ChangeKind = "partition"
	ChangeReboot    ChangeKind = "reboot"
	ChangeFreeze    ChangeKind = "freeze"
	ChangeKill      ChangeKind = "kill"
)

// ChangeKinds is the one table of timeline changes.
var ChangeKinds = []ChangeKind{ChangeLink, ChangePartition, ChangeReboot, ChangeFreeze, ChangeKill}

// MarshalText writes the change's name.
func (c ChangeKind) MarshalText() ([]byte, error) { return []byte(c), nil }

// UnmarshalText reads a change's name and refuses any other text.
func (c *ChangeKind) UnmarshalText(b []byte) error {
	return vocab.Parse(c, ChangeKinds, string(b), "timeline change")
}

// Event kinds written to events.jsonl.
const (
	EventListening EventKind = "listening"
	EventConnected EventKind = "connected"
	EventSocket    EventKind = "socket"
	EventClosed    EventKind = "closed"
	EventError     EventKind = "error"
	EventStats     EventKind = "stats"
	// EventTimeline is a link change at its time (side "link").
	EventTimeline EventKind = "timeline"
	// EventPolicyReset is the sender resetting a slow client.
	EventPolicyReset EventKind = "policy_reset"
	// EventTotal is a peer's account over all its connections (conn -1).
	EventTotal EventKind = "total"
	// EventRefuse is the sender starting or ending a refusal window.
	EventRefuse EventKind = "refuse"
	// EventLag is one second's lag over all of a receiver's clients.
	EventLag EventKind = "lag"
	// EventConnecting is a client starting its first connect.
	EventConnecting EventKind = "connecting"
	// EventConnectFailed is a client's connect attempt that failed.
	EventConnectFailed EventKind = "connect_failed"
	// EventMiddlebox is the link's NAT or firewall forgetting an idle
	// connection (side "link"), at the time it forgot.
	EventMiddlebox EventKind = "middlebox"
	// EventMiddleboxRefused is the first packet from one side (Side: sender
	// or receiver) of a connection the NAT forgot that it dropped or
	// answered with an RST; Detail is "data" (it carried payload) or
	// "probe" (an ACK or a keepalive / window probe).
	EventMiddleboxRefused EventKind = "middlebox_refused"
	// EventExecStarted is a user's program started (Detail: its pid and
	// command).
	EventExecStarted EventKind = "exec_started"
	// EventExecExited is a user's program's exit (Detail: how).
	EventExecExited EventKind = "exec_exited"
	// EventHTTP is the built-in HTTP client's or server's account of its
	// requests, at its end (conn -1).
	EventHTTP EventKind = "http"
)

// HTTPStats is the built-in HTTP client's or server's account.
type HTTPStats struct {
	// Requests were made (client) or served (server); OK got a 2xx
	// response; Failed got none, or another status (client).
	Requests int `json:"requests"`
	OK       int `json:"ok"`
	Failed   int `json:"failed"`
	// Errors are the first failures' messages (at most MaxHTTPErrors).
	Errors []string `json:"errors,omitempty"`
	// Latency is a request's start to its response's last byte (client).
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`
	// BytesSent and BytesReceived are bodies only.
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
}

// MaxHTTPErrors bounds the failures HTTPStats keeps the message of.
const MaxHTTPErrors = 5

// Event is one line of events.jsonl.
type Event struct {
	T    int64 `json:"t"` // ns since run start
	Side Side  `json:"side"`
	Conn int   `json:"conn"`
	// Client is the receiver client the connection belongs to.
	Client int       `json:"client"`
	Kind   EventKind `json:"event"`
	Error  string    `json:"error,omitempty"`
	// Socket holds the effective socket options read back after setting them.
	Socket *EffectiveSocket `json:"socket,omitempty"`
	Stats  *Stats           `json:"stats,omitempty"`
	// Addr is the local address for listening, local→remote for connected.
	Addr      string `json:"addr,omitempty"`
	Handshake int64  `json:"handshake_ns,omitempty"`
	// Lag is one second's lag (EventLag; T is the second's start).
	Lag *LagPoint `json:"lag,omitempty"`
	// Detail describes a link change (timeline events, side "link").
	Detail string `json:"detail,omitempty"`
	// Step says which timeline entry starts or ends (timeline events).
	Step *TimelineStep `json:"step,omitempty"`
	// HTTP is an HTTP client's or server's account (EventHTTP).
	HTTP *HTTPStats `json:"http,omitempty"`
}

// LagPoint is the lag of the messages read in one second: production → read.
type LagPoint struct {
	Second   int64   `json:"second"` // seconds since the run's start
	Messages uint64  `json:"messages"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// EffectiveSocket is what the kernel reports after the options were set.
type EffectiveSocket struct {
	Sndbuf     int    `json:"sndbuf"`
	Rcvbuf     int    `json:"rcvbuf"`
	NoDelay    bool   `json:"nodelay"`
	Congestion string `json:"congestion"`
	MSS        int    `json:"mss"`
	// Keepalive as the kernel holds it (it keeps whole seconds).
	Keepalive         bool `json:"keepalive"`
	KeepaliveIdleS    int  `json:"keepalive_idle_s"`
	KeepaliveInterval int  `json:"keepalive_interval_s"`
	KeepaliveCount    int  `json:"keepalive_count"`
	UserTimeoutMs     int  `json:"user_timeout_ms"`
	NotsentLowat      int  `json:"notsent_lowat"`
	Linger            bool `json:"linger"`
	LingerS           int  `json:"linger_s"`
	// MaxPacingRate is SO_MAX_PACING_RATE as the kernel holds it, in bytes
	// per second (0: no cap).
	MaxPacingRate uint64 `json:"max_pacing_rate,omitempty"`
}

// Stats is a peer's account of the data at its end.
type Stats struct {
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	// Receiver only.
	Dropped    uint64  `json:"dropped,omitempty"`    // sender: produced, never written (discarded by a reset)
	Lost       uint64  `json:"lost,omitempty"`       // sequence numbers skipped
	Duplicated uint64  `json:"duplicated,omitempty"` // sequence numbers seen again
	LagP50Ms   float64 `json:"lag_p50_ms,omitempty"`
	LagP99Ms   float64 `json:"lag_p99_ms,omitempty"`
	LagMaxMs   float64 `json:"lag_max_ms,omitempty"`
	Samples    int     `json:"samples"`
	// Client is the receiver client this connection served.
	Client int `json:"client"`
	// MaxBacklog is the sender's largest unsent backlog for the connection
	// (its queue, the chunk being written and the socket's unsent bytes).
	MaxBacklog uint64 `json:"max_backlog,omitempty"`
	// Sender: the messages wholly written are [SeqFrom, SeqTo).
	SeqFrom uint64 `json:"seq_from,omitempty"`
	SeqTo   uint64 `json:"seq_to,omitempty"`
	// MaxMessage is the largest message read (receiver).
	MaxMessage uint32 `json:"max_message,omitempty"`
	// Receiver: the first and last sequence number read (Messages > 0).
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// Conn is the connection this account is of (not written: the
	// event carrying it says).
	Conn int `json:"-"`
	// The peer process's own cost (totals only): CPU seconds and peak
	// resident memory.
	CPUUserS  float64 `json:"cpu_user_s,omitempty"`
	CPUSysS   float64 `json:"cpu_sys_s,omitempty"`
	MaxRSSKiB int64   `json:"max_rss_kib,omitempty"`
	// The peer's sampler clock (totals only): the ticks it sampled at,
	// the ticks that passed while it was late (no samples for them), and
	// whether its thread ran at real-time priority.
	SampleTicks       uint64 `json:"sample_ticks,omitempty"`
	SampleTicksMissed uint64 `json:"sample_ticks_missed,omitempty"`
	SampleRealtime    bool   `json:"sample_realtime,omitempty"`
	// SampleCPUS is the sampler thread's own CPU time (s).
	SampleCPUS float64 `json:"sample_cpu_s,omitempty"`
	// Connections is the number of connections a total covers.
	Connections int `json:"connections,omitempty"`
	// Lifecycle of the connection, ns since the run's start: connected,
	// first and last byte written (sender) or read (receiver), closed.
	ConnectedNs int64 `json:"connected_ns"`
	FirstDataNs int64 `json:"first_data_ns,omitempty"`
	LastDataNs  int64 `json:"last_data_ns,omitempty"`
	ClosedNs    int64 `json:"closed_ns"`
}

// Add sums o, one connection's account, into a peer's total (lags are set
// by the caller).
func (s *Stats) Add(o *Stats) {
	s.Messages += o.Messages
	s.Bytes += o.Bytes
	s.Dropped += o.Dropped
	s.Lost += o.Lost
	s.Duplicated += o.Duplicated
	s.Samples += o.Samples
	s.MaxMessage = max(s.MaxMessage, o.MaxMessage)
	s.Connections++
	if s.Connections == 1 || o.ConnectedNs < s.ConnectedNs {
		s.ConnectedNs = o.ConnectedNs
	}
	if o.FirstDataNs > 0 && (s.FirstDataNs == 0 || o.FirstDataNs < s.FirstDataNs) {
		s.FirstDataNs = o.FirstDataNs
	}
	s.LastDataNs = max(s.LastDataNs, o.LastDataNs)
	s.ClosedNs = max(s.ClosedNs, o.ClosedNs)
}
