// Package watch samples the TCP connections of a live host, read-only:
// it picks them by port, address, owning process or network namespace,
// samples each through sock_diag on a steady clock, judges each
// connection window by window from the end the host has (report's
// one-end rules), shows them as a live table, counts the seconds each
// connection spent limited by each class (the exporter's), and records
// what it saw as a run directory that tcplab report renders. It never
// writes to a socket, a link or a namespace it watches.
package watch
