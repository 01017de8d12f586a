// Package scenario owns the scenario file format — types, strict YAML loading
// with file:line:col errors, units, defaults, validation — and the run
// orchestration that turns a valid scenario into a lab (netem), peers
// (peers), samples (tcpinfo) and a report (report).
//
// It touches no socket or netlink directly: those belong to netem, peers and
// tcpinfo.
package scenario
