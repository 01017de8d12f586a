package record

import (
	"time"

	"github.com/tcplab/tcplab/internal/vocab"
)

// Failure is how a scenario makes its run fail, resolved from the file for
// the judges (report's detection rules): which failure, which side, the
// direction of a partition, the middlebox, and each side's socket settings
// that decide when it notices.
type Failure struct {
	// Vanish says the receiver vanishes (its side is the failure).
	Vanish bool
	// Reboot, Kill and Freeze name the side the timeline reboots, kills or
	// freezes ("" for none; the first one in the timeline counts).
	Reboot, Kill, Freeze Side
	// Partition is the direction of the timeline's first partition: down,
	// up, both or link-down ("" for none).
	Partition string
	// InTimeline says a vanish, partition, reboot, kill or freeze happens
	// during the run (a NAT's forgetting is then not the failure).
	InTimeline bool
	// NAT is the middlebox that forgets idle connections (nil: none).
	NAT *NATSettings
	// Sockets are the sender's and the receiver's settings, by role.
	Sockets map[Side]SocketSettings
}

// NATSettings is a NAT that forgets a connection idle for IdleTimeout;
// Expired is what it does with a forgotten connection's packets.
type NATSettings struct {
	IdleTimeout time.Duration
	Expired     NATExpiry
}

// NATExpiry is what a NAT does with a forgotten connection's packets.
type NATExpiry string

// The NATExpiry values: the scenario's link.nat.expired (a test in lab
// holds NATExpiries equal to scenario.NATExpired).
const (
	NATDrop NATExpiry = "drop"
	NATRST  NATExpiry = "rst"
)

// NATExpiries is the table of NATExpiry values.
var NATExpiries = []NATExpiry{NATDrop, NATRST}

// MarshalText writes the expiry's name.
func (e NATExpiry) MarshalText() ([]byte, error) { return []byte(e), nil }

// UnmarshalText reads an expiry's name and refuses any other text.
func (e *NATExpiry) UnmarshalText(b []byte) error {
	return vocab.Parse(e, NATExpiries, string(b), "nat expiry")
}

// SocketSettings are one side's settings that decide when it notices a dead
// peer. Keepalive nil: keepalive off; UserTimeout 0: none.
type SocketSettings struct {
	Keepalive   *KeepaliveSettings
	UserTimeout time.Duration
}

// KeepaliveSettings are TCP keepalive's idle, interval and count.
type KeepaliveSettings struct {
	Idle, Interval time.Duration
	Count          int
}
