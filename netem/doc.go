// Package netem builds and removes the lab's network: per run a sender and a
// receiver network namespace (tcplab-<runid>-snd, tcplab-<runid>-rcv), a veth
// pair between them with addresses from 198.18.0.0/15 allocated so that
// concurrent runs never collide, and the impairments on each direction —
// kernel qdiscs through go-tc (netem, or tbf for a rate alone) or the
// userspace link between two TUN devices (netem/userspace), both from one
// model (netem/impair). It owns the one audited helper that enters a
// namespace (Do), the probes behind `tcplab doctor`, and the cleanup of
// whatever crashed runs left behind.
//
// It never modifies the root namespace's links, routes, qdiscs or firewall and
// imports only its own subpackages.
package netem
