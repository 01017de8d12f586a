// Package userspace is the userspace link backend: an emulator that forwards
// packets between two TUN devices (one in each lab namespace) and applies
// an impair.Impairment per direction with netem's meaning.
//
// Design (measured, see docs/backends.md):
// TUN devices with IFF_VNET_HDR and TSO4/CSUM offloads, so reads are up to
// 64 KB super-packets, forwarded as read when nothing happens to them; loss,
// duplication and corruption are decided per TCP segment, and a super-packet
// with a dropped segment is cut into runs of kept segments (headers
// rewritten, payload copied into the run's own buffer); each queued packet
// is released at its departure time by a thread on a locked OS thread that
// sleeps on a timerfd. Buffers come from a pool allocated as needed and then
// reused: the steady state allocates nothing per packet.
//
// The emulator must not share its process with busy peers (Go's timers are
// late there): tcplab runs peers as child processes.
package userspace
