package record

import "github.com/tcplab/tcplab/internal/vocab"

// FileConnections holds every TCP connection as the link saw it on the
// wire, one WireConn per line, whatever programs made them.
const FileConnections = "connections.jsonl"

// ConnEnd is one end of a connection as the wire tells them apart: the
// one that sent the SYN, or the one that answered it.
type ConnEnd string

// The ends of a connection.
const (
	EndClient ConnEnd = "client"
	EndServer ConnEnd = "server"
)

// ConnEnds is the one table of connection ends.
var ConnEnds = []ConnEnd{EndClient, EndServer}

// MarshalText writes the end's name.
func (e ConnEnd) MarshalText() ([]byte, error) { return []byte(e), nil }

// UnmarshalText reads an end's name and refuses any other text.
func (e *ConnEnd) UnmarshalText(b []byte) error {
	return vocab.Parse(e, ConnEnds, string(b), "connection end")
}

// CloseKind is how a connection's first closing packet closed it.
type CloseKind string

// The ways a connection closes.
const (
	CloseFIN CloseKind = "fin"
	CloseRST CloseKind = "rst"
)

// CloseKinds is the one table of close kinds.
var CloseKinds = []CloseKind{CloseFIN, CloseRST}

// MarshalText writes the kind's name.
func (k CloseKind) MarshalText() ([]byte, error) { return []byte(k), nil }

// UnmarshalText reads a kind's name and refuses any other text.
func (k *CloseKind) UnmarshalText(b []byte) error {
	return vocab.Parse(k, CloseKinds, string(b), "close kind")
}

// WireConn is one TCP connection as the link saw it: from its first SYN
// (or first packet, for one open before the capture) to its closing
// handshake, its RST, or the run's end. Times are seconds since the run's
// start on the clock of samples.jsonl; durations are milliseconds.
type WireConn struct {
	// Conn numbers the connections in the order of their first packet.
	Conn int `json:"conn"`
	// Client and Server are addr:port of the end that sent the SYN and
	// of the one that answered.
	Client string `json:"client"`
	Server string `json:"server"`
	// ClientSide is the namespace the client is in: sender or receiver.
	ClientSide Side `json:"client_side"`
	// OpenedS is the first SYN (or first packet).
	OpenedS float64 `json:"opened_s"`
	// MidStream: the first packet seen was not a SYN (the connection was
	// open before the capture); its handshake and client are unknown.
	MidStream bool `json:"mid_stream,omitempty"`
	// SYNRetries counts the client's retransmitted SYNs.
	SYNRetries int `json:"syn_retries"`
	// HandshakeMs is the first SYN to the client's ACK of the SYN/ACK
	// (nil: the handshake did not complete).
	HandshakeMs *float64 `json:"handshake_ms"`
	// Exchanges counts the exchanges: a run of data one way, then the
	// other (a request and its response). Reused is more than one.
	Exchanges int `json:"exchanges"`
	// FirstExchanges are the first MaxWireExchanges of them.
	FirstExchanges []WireExchange `json:"first_exchanges"`
	// BytesClient and BytesServer are the payload bytes each end sent,
	// counted once (retransmissions are not counted again).
	BytesClient uint64 `json:"bytes_client"`
	BytesServer uint64 `json:"bytes_server"`
	// Retransmitted are the payload bytes sent again, both ends.
	Retransmitted uint64 `json:"retransmitted_bytes"`
	// IdleMaxMs is the longest stretch without new data either way while
	// the connection was open (handshake to close or the run's end);
	// IdleAfterMs the stretch after the last data.
	IdleMaxMs   float64 `json:"idle_max_ms"`
	IdleAfterMs float64 `json:"idle_after_ms"`
	// Close is how the connection was closed; nil: open at the run's end.
	Close *WireClose `json:"close"`
	// LastS is the connection's last packet; SessionMs the first packet
	// to the last.
	LastS     float64 `json:"last_s"`
	SessionMs float64 `json:"session_ms"`
}

// MaxWireExchanges bounds the exchanges kept per connection (all are
// counted).
const MaxWireExchanges = 32

// WireExchange is one request and its response as the wire saw them.
type WireExchange struct {
	// StartS is the request's first byte (the response's, when the server
	// spoke first).
	StartS float64 `json:"start_s"`
	// IdleBeforeMs: since the previous data either way (or the handshake).
	IdleBeforeMs  float64 `json:"idle_before_ms"`
	RequestBytes  uint64  `json:"request_bytes"`
	ResponseBytes uint64  `json:"response_bytes"`
	// RequestMs is the request's first byte to its last; TTFBMs its last
	// byte to the response's first (nil: no response); ResponseMs the
	// response's first byte to its last.
	RequestMs  float64  `json:"request_ms"`
	TTFBMs     *float64 `json:"ttfb_ms"`
	ResponseMs float64  `json:"response_ms"`
}

// WireClose is who closed a connection first, how, and when.
type WireClose struct {
	By  ConnEnd   `json:"by"`
	How CloseKind `json:"how"`
	AtS float64   `json:"at_s"`
}
