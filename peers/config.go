package peers

import "time"

// Roles.
const (
	RoleSender   = "sender"
	RoleReceiver = "receiver"
)

// SocketOptions are set on a peer's socket before it connects or listens.
// Zero values leave the kernel's default.
type SocketOptions struct {
	Sndbuf     int    `json:"sndbuf,omitempty"`     // SO_SNDBUF bytes asked (the kernel doubles it)
	Rcvbuf     int    `json:"rcvbuf,omitempty"`     // SO_RCVBUF bytes asked
	NoDelay    *bool  `json:"nodelay,omitempty"`    // TCP_NODELAY
	Congestion string `json:"congestion,omitempty"` // TCP_CONGESTION
	// Keepalive, when set, enables SO_KEEPALIVE with these idle time,
	// probe interval and probe count; unset leaves keepalive off (the
	// kernel's default, not Go's 15 s).
	Keepalive *Keepalive `json:"keepalive,omitempty"`
	// UserTimeout is TCP_USER_TIMEOUT (0: unset).
	UserTimeout time.Duration `json:"user_timeout,omitempty"`
	// NotsentLowat is TCP_NOTSENT_LOWAT in bytes (0: unset).
	NotsentLowat int `json:"notsent_lowat,omitempty"`
	// Linger, when set, is SO_LINGER on with this time (0: close sends RST).
	Linger *time.Duration `json:"linger,omitempty"`
}

// Keepalive is TCP keepalive: probes after Idle without traffic, every
// Interval, Count times, then the connection is dropped (ETIMEDOUT).
type Keepalive struct {
	Idle     time.Duration `json:"idle"`
	Interval time.Duration `json:"interval"`
	Count    int           `json:"count"`
}

// Config is everything one peer process needs. The parent sends it as one
// JSON line on the child's standard input.
type Config struct {
	Role   string `json:"role"`
	Listen bool   `json:"listen"`
	// Addr is host:port to listen on or to connect to.
	Addr string `json:"addr"`
	// Start is the run's start on the monotonic clock (ns); every timestamp
	// the peer writes is relative to it.
	Start          int64         `json:"start"`
	Duration       time.Duration `json:"duration"`
	SampleInterval time.Duration `json:"sample_interval"`

	// Sender: RateBits 0 sends as fast as possible (bulk).
	RateBits    uint64 `json:"rate_bits,omitempty"`
	MessageSize int    `json:"message_size,omitempty"`

	// Schedule, when set, replaces RateBits with phases (sender).
	Schedule []Phase `json:"schedule,omitempty"`
	// ResetSlowClient is the sender's policy for a consumer that falls
	// behind (nil: none).
	ResetSlowClient *ResetPolicy `json:"reset_slow_client,omitempty"`
	// VanishAt, when set, is when the receiver stops everything without
	// closing (its link goes dark at the same time).
	VanishAt time.Duration `json:"vanish_at,omitempty"`
	// Stalls are windows in which the receiver does not read.
	Stalls []Stall `json:"stalls,omitempty"`

	// Receiver: ReadRate 0 reads as fast as possible.
	ReadRate uint64 `json:"read_rate,omitempty"` // bytes/s
	ReadSize int    `json:"read_size,omitempty"`

	Socket SocketOptions `json:"socket"`
	// NoSample turns the peer's own getsockopt sampling off (tcplab then
	// samples every socket through sock_diag).
	NoSample bool `json:"no_sample,omitempty"`
}

// Deadline is the end of traffic on the monotonic clock (ns).
func (c *Config) Deadline() int64 { return c.Start + int64(c.Duration) }

// Phase kinds.
const (
	PhaseRate   = "rate"
	PhasePause  = "pause"
	PhaseReplay = "replay"
	// PhaseOff produces and sends nothing (an on/off source's off time).
	PhaseOff = "off"
	// PhaseRamp moves the production rate linearly from the rate (Bits or
	// Msgs) to the ramp's end rate (ToBits or ToMsgs) over For.
	PhaseRamp = "ramp"
)

// Phase is one step of a sender's schedule: send at a rate for a time,
// pause (production goes on into the backlog), or replay the backlog at a
// rate. A rate is Bits (bits/s) or Msgs (messages/s); both 0 is max.
type Phase struct {
	Kind string        `json:"kind"`
	Bits uint64        `json:"bits,omitempty"`
	Msgs float64       `json:"msgs,omitempty"`
	For  time.Duration `json:"for,omitempty"` // 0: until the end (rate) / until the backlog is sent (replay)
	// ToBits / ToMsgs: the ramp's end rate.
	ToBits uint64  `json:"to_bits,omitempty"`
	ToMsgs float64 `json:"to_msgs,omitempty"`
}

// Stall is a window (from the run's start) in which the receiver does not read.
type Stall struct {
	At  time.Duration `json:"at"`
	For time.Duration `json:"for"`
}

// ResetPolicy resets (RST) a client whose unsent backlog stays above
// BacklogAbove bytes for For.
type ResetPolicy struct {
	BacklogAbove uint64        `json:"backlog_above"`
	For          time.Duration `json:"for"`
}
