// Package wire follows TCP connections through the packets a link sees —
// headers only — whatever programs made them: who connected, the
// handshake's time, each exchange (a request one way, its response the
// other), idle stretches, who closed first and how. Tracker is fed by the
// userspace link for every packet it reads, or by Tap, a packet socket on
// one end of a kernel link; Conns gives the record.WireConn lines of
// connections.jsonl.
package wire
