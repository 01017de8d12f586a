// Package record owns the run directory on disk: a directory tcplab
// creates itself, every file in it created or replaced beneath it and never
// through a symbolic link, and bounded readers for what it holds.
//
// tcplab runs as root and writes where a user points it (--out, tcplab
// report DIR): a link planted in that directory must not turn a write into
// one outside it. Dir opens the directory once (O_NOFOLLOW) and does every
// file operation relative to that descriptor with single-component names
// and O_NOFOLLOW, creating with O_EXCL and replacing by rename.
//
// It also holds what the run directory's files say, as types: the records
// of events.jsonl (Event, Side, EventKind, TimelineStep, Stats,
// EffectiveSocket, LagPoint) — peers write them, report reads them, neither
// through the other —, meta.json (MetaFile: Meta, how the run ended, the
// peers that failed it, the link record, the expectations), and the failure
// a sweep point's detection rules need (Failure).
//
// It imports nothing of tcplab's but tcpinfo.
package record
