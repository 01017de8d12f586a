// Package tcpinfo holds the complete Linux struct tcp_info (through kernel 6.18)
// with per-field validity decided by the length the kernel returned, a raw
// getsockopt(TCP_INFO) reader that allocates nothing, the queue and socket-memory
// readings that corroborate it (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD, SO_MEMINFO), a
// sock_diag reader and the DiagSampler that samples every socket of a namespace
// with it, the samples' JSON line form (samples.jsonl), and the Prometheus
// collector (Collector).
//
// It imports nothing of tcplab's: it mirrors the kernel, nothing more.
package tcpinfo
