// Package tcpinfo holds the complete Linux struct tcp_info (through kernel 6.18)
// with per-field validity decided by the length the kernel returned, a raw
// getsockopt(TCP_INFO) reader that allocates nothing, the queue and socket-memory
// readings that corroborate it (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD, SO_MEMINFO), and the
// periodic sampler that writes samples.jsonl.
//
// It must not import scenario, report or peers: it mirrors the kernel, nothing more.
package tcpinfo
