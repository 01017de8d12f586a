package scenario

import (
	"strings"
	"time"

	"github.com/tcplab/tcplab/scenario/units"
)

// checkHTTP checks the built-in HTTP client and server: what they pair
// with, which side listens, their ranges.
func (c *checker) checkHTTP() {
	s, pos, bad := c.s, c.pos, c.bad
	if h := s.Sender.HTTP; h != nil {
		if s.Sender.Exec != nil {
			bad("sender.http_client", "the sender is a program (sender.exec) or the HTTP client, not both")
		}
		if s.SenderListens() {
			bad("sender.http_client", "the client connects: the receiver must listen (remove sender.listen)")
		}
		for _, f := range []string{"rate", "schedule", "message", "policy", "repeat", "resume"} {
			if _, set := pos["sender."+f]; set {
				bad("sender."+f, "has no effect with sender.http_client (the feed does not run); remove it")
			}
		}
		switch {
		case h.Requests < 0 || h.Requests > 1_000_000:
			bad("sender.http_client.requests", "%d is outside 0..1000000", h.Requests)
		case h.Concurrency < 1 || h.Concurrency > 1000:
			bad("sender.http_client.concurrency", "%d is outside 1..1000", h.Concurrency)
		case *h.MaxIdle < 0 || *h.MaxIdle > 1000:
			bad("sender.http_client.max_idle", "%d is outside 0..1000", *h.MaxIdle)
		case h.MaxConns < 0 || h.MaxConns > 1000:
			bad("sender.http_client.max_conns", "%d is outside 0..1000", h.MaxConns)
		case h.RequestSize > 64<<20:
			bad("sender.http_client.request_size", "%v is above 64MiB", h.RequestSize)
		case h.ResponseSize != nil && *h.ResponseSize > 1<<30:
			bad("sender.http_client.response_size", "%v is above 1GiB", *h.ResponseSize)
		case *h.Timeout < units.Duration(time.Millisecond):
			bad("sender.http_client.timeout", "%v is below 1ms", *h.Timeout)
		case !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \x00\r\n"):
			bad("sender.http_client.path", "%q is not a URL path (it starts with / and has no spaces)", h.Path)
		}
	}
	if h := s.Receiver.HTTP; h != nil {
		if s.Receiver.Exec != nil {
			bad("receiver.http_server", "the receiver is a program (receiver.exec) or the HTTP server, not both")
		}
		if s.SenderListens() {
			bad("receiver.http_server", "the server listens: remove sender.listen")
		}
		for _, f := range []string{"read", "stalls", "vanish", "clients", "client_overrides", "close_at", "close_every", "reconnect"} {
			if _, set := pos["receiver."+f]; set {
				bad("receiver."+f, "has no effect with receiver.http_server (the reader does not run); remove it")
			}
		}
		switch {
		case *h.ResponseSize > 1<<30:
			bad("receiver.http_server.response_size", "%v is above 1GiB", *h.ResponseSize)
		case h.MaxRequests < 0 || h.MaxRequests > 1_000_000:
			bad("receiver.http_server.max_requests", "%d is outside 0..1000000", h.MaxRequests)
		}
	}
	if s.Sender.HTTP == nil && s.Receiver.HTTP == nil {
		return
	}
	for _, side := range []struct {
		name string
		e    *Exec
		h    bool
	}{{"sender", s.Sender.Exec, s.Sender.HTTP != nil}, {"receiver", s.Receiver.Exec, s.Receiver.HTTP != nil}} {
		if side.e == nil && !side.h {
			bad(side.name, "the built-in %s speaks tcplab's feed, not HTTP: give it http_%s, or exec with your program", side.name, map[string]string{"sender": "client", "receiver": "server"}[side.name])
		}
	}
}

// checkListen checks that exactly one side listens, and its port.
func (c *checker) checkListen() {
	s, bad := c.s, c.bad
	sl, rl := s.SenderListens(), s.Receiver.Listen != nil && *s.Receiver.Listen
	if sl == rl {
		bad("receiver.listen", "sender.listen and receiver.listen are both %v: exactly one side listens (the receiver, unless sender.listen: true)", sl)
		return
	}
	for _, p := range []struct {
		field, side, other string
		port               int
		listens            bool
	}{{"sender.port", "sender", "receiver", s.Sender.Port, sl}, {"receiver.port", "receiver", "sender", s.Receiver.Port, rl}} {
		switch {
		case !p.listens && p.port != 0:
			bad(p.field, "the %s connects (the %s listens): the port is the listening side's, %s.port", p.side, p.other, p.other)
		case p.listens && (p.port < 1 || p.port > 65535):
			bad(p.field, "%d is outside 1..65535", p.port)
		}
	}
}
