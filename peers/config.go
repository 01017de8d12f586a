package peers

import (
	"time"

	"github.com/tcplab/tcplab/record"
)

// Roles.
const (
	RoleSender   = record.RoleSender
	RoleReceiver = record.RoleReceiver
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
	// MaxPacingRate is SO_MAX_PACING_RATE in bytes per second (0: unset).
	MaxPacingRate uint64 `json:"max_pacing_rate,omitempty"`
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
	// ReadSchedule, when set, replaces ReadRate with rate phases from the
	// run's start (the last lasts to the end).
	ReadSchedule []ReadPhase `json:"read_schedule,omitempty"`
	ReadSize     int         `json:"read_size,omitempty"`

	Socket SocketOptions `json:"socket"`

	// Clients is how many client connections the receiver keeps open at
	// once (each with its own queue at the sender); 0 means 1.
	Clients int `json:"clients,omitempty"`
	// Overrides change the read pattern of some clients (receiver).
	Overrides []ClientOverride `json:"overrides,omitempty"`
	// Hello: both ends are built-in peers; every connection starts with
	// the receiver's hello (connection id, client, resume point).
	Hello bool `json:"hello,omitempty"`
	// Reconnect, when set, makes a receiver client connect again after its
	// connection ends (receiver that connects).
	Reconnect *Reconnect `json:"reconnect,omitempty"`
	// CloseAt, when set, is when the receiver's clients close their
	// connection themselves (FIN).
	CloseAt time.Duration `json:"close_at,omitempty"`
	// CloseEvery, when set, closes each connection of each client (FIN)
	// this long after it opened; with Reconnect the client connects again:
	// connection churn.
	CloseEvery time.Duration `json:"close_every,omitempty"`
	// Resume: the sender keeps what it produced so a client that reconnects
	// asking to resume gets every message from its resume point (backfill).
	Resume bool `json:"resume,omitempty"`
	// Refuse are windows in which the listening sender refuses new
	// connections.
	Refuse []Refusal `json:"refuse,omitempty"`
	// CloseIdle, when set, makes the sender close a connection it has had
	// nothing to write to for this long.
	CloseIdle time.Duration `json:"close_idle,omitempty"`
	// Sizes is the message size distribution (sender); unset: MessageSize.
	Sizes *SizeDist `json:"sizes,omitempty"`
	// Repeat runs the schedule again from its first phase after its last.
	Repeat bool `json:"repeat,omitempty"`
	// Seed seeds the sender's random choices (message sizes) and the
	// receiver's (backoff jitter).
	Seed int64 `json:"seed,omitempty"`

	// NoSample turns the peer's own getsockopt sampling off (tcplab then
	// samples every socket through sock_diag).
	NoSample bool `json:"no_sample,omitempty"`

	// HTTPClient and HTTPServer, when set, run the built-in HTTP client
	// (connecting) or server (listening) instead of the feed.
	HTTPClient *HTTPClientConfig `json:"http_client,omitempty"`
	HTTPServer *HTTPServerConfig `json:"http_server,omitempty"`
}

// Deadline is the end of traffic on the monotonic clock (ns).
func (c *Config) Deadline() int64 { return c.Start + int64(c.Duration) }

// Phase kinds.
const (
	PhaseRate = "rate"
	// PhaseBurst produces BurstBytes (whole messages, at least one) at once
	// every Every and releases them.
	PhaseBurst  = "burst"
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
	// BurstBytes are produced and released at once every Every (PhaseBurst).
	BurstBytes uint64        `json:"burst_bytes,omitempty"`
	Every      time.Duration `json:"every,omitempty"`
}

// Stall is a window (from the run's start) in which the receiver does not read.
type Stall struct {
	At  time.Duration `json:"at"`
	For time.Duration `json:"for"`
}

// ReadPhase is one phase of a read schedule: Rate bytes per second (0: as
// fast as data comes) for For (0: to the end).
type ReadPhase struct {
	Rate uint64        `json:"rate"`
	For  time.Duration `json:"for,omitempty"`
}

// readPhaseAt is the schedule's phase at t (since the run's start): its
// read rate, and when it ends (0: it lasts to the end of the run).
func readPhaseAt(phases []ReadPhase, t time.Duration) (rate uint64, end time.Duration) {
	for i, ph := range phases {
		if ph.For == 0 || i == len(phases)-1 {
			return ph.Rate, 0
		}
		end += ph.For
		if t < end {
			return ph.Rate, end
		}
	}
	return 0, 0
}

// ResetPolicy resets (RST) a client whose unsent backlog stays above
// BacklogAbove bytes for For.
type ResetPolicy struct {
	BacklogAbove uint64        `json:"backlog_above"`
	For          time.Duration `json:"for"`
}

// ClientOverride changes the read pattern of the clients listed (by index,
// from 0).
type ClientOverride struct {
	Clients  []int          `json:"clients"`
	ReadRate *uint64        `json:"read_rate,omitempty"`
	Stalls   []Stall        `json:"stalls,omitempty"`
	CloseAt  *time.Duration `json:"close_at,omitempty"`
}

// Reconnect is a client's reconnect policy: wait Min, doubling up to Max
// after each failed attempt, each wait varied by ±Jitter (a fraction), and
// ask to resume from the next message it has not seen when Resume is set.
type Reconnect struct {
	Min     time.Duration `json:"min"`
	Max     time.Duration `json:"max"`
	Jitter  float64       `json:"jitter"`
	Resume  bool          `json:"resume"`
	Timeout time.Duration `json:"timeout"` // connect timeout per attempt
}

// Refusal modes.
const (
	// RefuseRST closes the listening socket: the kernel answers SYNs with RST.
	RefuseRST = "rst"
	// RefuseBlackhole drops SYNs silently (a socket filter on the listener).
	RefuseBlackhole = "blackhole"
)

// Refusal is a window in which the sender refuses new connections.
type Refusal struct {
	At   time.Duration `json:"at"`
	For  time.Duration `json:"for"`
	Mode string        `json:"mode"`
}

// Size distributions.
const (
	SizeFixed       = "fixed"
	SizeUniform     = "uniform"
	SizeExponential = "exponential"
)

// SizeDist is the distribution of message sizes: fixed at Mean, uniform on
// [HeaderSize, 2·Mean−HeaderSize], or exponential with mean Mean; every
// size is clipped to [HeaderSize, Max].
type SizeDist struct {
	Kind string `json:"kind"`
	Mean int    `json:"mean"`
	Max  int    `json:"max"`
}
