// Package lab runs a scenario: it chooses the backend, builds the topology
// (netem), starts the peers — built-in (peers) or the user's programs — and
// watches them, samples tcp_info (tcpinfo), applies the timeline, watches
// the middlebox, shows the live status, serves the metrics, records the
// run directory (record) and has report judge and render it. Sweeps run
// their points as child processes and collect their reports.
//
// Check is what validate and run check beyond the file itself: the
// expectations and the programs on this host.
package lab
