// Package netem builds and removes the lab's network: per run a sender and a
// receiver network namespace (tcplab-<runid>-snd, tcplab-<runid>-rcv), a veth
// pair between them with addresses from 198.18.0.0/15 allocated so that
// concurrent runs never collide, and the impairments on each direction (for
// now a tbf rate limit through go-tc). It owns the one audited helper that
// enters a namespace (Do), the probes behind `tcplab doctor`, and the cleanup
// of whatever crashed runs left behind.
//
// It never modifies the root namespace's links, routes, qdiscs or firewall and
// must not import scenario, peers or report.
package netem
