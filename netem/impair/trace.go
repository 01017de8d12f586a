package impair

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TraceMTU is the bytes one delivery opportunity of a trace carries
// (mahimahi's MTU).
const TraceMTU = 1500

// MaxTraceLines bounds a trace's delivery opportunities (one period).
const MaxTraceLines = 10_000_000

// Trace is a packet-delivery trace in mahimahi's format: each line is the
// time (whole ms from the trace's start) of one delivery opportunity of
// TraceMTU bytes; several lines may share a time. The trace loops: its
// period is its last line's time. A link driven by it delivers at the
// opportunities, bytes carried over from one to the next, and the queue
// waits for them (a cellular link's rate, second by second).
type Trace struct {
	// At are the opportunities' offsets within one period (ns), ascending.
	At []int64
	// Period is the trace's length (ns): the time of its last line.
	Period int64
	// Name says where it came from (a file's name).
	Name string
}

// ParseMahimahi reads a trace in mahimahi's format from r; name (a file's
// name) prefixes each error with its line. Empty lines and lines starting
// with # are skipped.
func ParseMahimahi(name string, r io.Reader) (*Trace, error) {
	t := &Trace{Name: name}
	sc := bufio.NewScanner(r)
	line := 0
	prev := int64(-1)
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms < 0 || ms > int64(24*time.Hour/time.Millisecond) {
			return nil, fmt.Errorf("%s:%d: %q is not a time in whole milliseconds (0..86400000), one delivery opportunity a line (mahimahi's format)", name, line, s)
		}
		if ms < prev {
			return nil, fmt.Errorf("%s:%d: %d ms comes before the line above (%d ms): times must not decrease", name, line, ms, prev)
		}
		if len(t.At) >= MaxTraceLines {
			return nil, fmt.Errorf("%s:%d: more than %d delivery opportunities", name, line, MaxTraceLines)
		}
		prev = ms
		t.At = append(t.At, ms*int64(time.Millisecond))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(t.At) == 0 {
		return nil, fmt.Errorf("%s: no delivery opportunity in it (one time in ms a line, mahimahi's format)", name)
	}
	t.Period = t.At[len(t.At)-1]
	if t.Period <= 0 {
		return nil, fmt.Errorf("%s: its last line is at 0 ms: the trace needs a length to loop over", name)
	}
	return t, nil
}

// MeanBits is the trace's mean rate over a period (bits/s).
func (t *Trace) MeanBits() float64 {
	return float64(len(t.At)) * TraceMTU * 8 / (float64(t.Period) / 1e9)
}

// Opportunity is the time (ns from the trace's start) of opportunity k,
// counted from 0 over the looping trace.
func (t *Trace) Opportunity(k int64) int64 {
	n := int64(len(t.At))
	return (k/n)*t.Period + t.At[k%n]
}

// FirstAt is the index of the first opportunity at or after ns (from the
// trace's start).
func (t *Trace) FirstAt(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	n := int64(len(t.At))
	cycles := ns / t.Period
	off := ns % t.Period
	i := int64(sort.Search(len(t.At), func(i int) bool { return t.At[i] >= off }))
	// The last line's time is the period: its opportunity belongs to the
	// cycle's end, which is also the next one's start (offset 0 there).
	return cycles*n + i
}

// Departure walks the trace from opportunity k (the first not yet used)
// and start (ns from the trace's start, when the packet can begin to
// leave): it returns the time the packet of wire bytes is delivered, the
// next unused opportunity and the bytes left in the last one used. left
// are the bytes still free in opportunity k-1 at time prevAt, which a
// packet waiting at that instant may use.
func (t *Trace) Departure(k int64, left int, prevAt, start int64, wire int) (at int64, next int64, rest int) {
	if start <= prevAt && left > 0 {
		if wire <= left {
			return prevAt, k, left - wire
		}
		wire -= left
	}
	k = max(k, t.FirstAt(start))
	for {
		at = t.Opportunity(k)
		k++
		if wire <= TraceMTU {
			return at, k, TraceMTU - wire
		}
		wire -= TraceMTU
	}
}
