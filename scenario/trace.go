package scenario

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario/units"
)

// MaxTraceFile bounds a trace file's size (a minute at 1 Gbit/s in
// mahimahi's format is about 45 MB).
const MaxTraceFile = 128 << 20

// loadTraces reads every link.*.trace of the scenario (its base link and
// its timeline's changes) into TraceData: a file relative to the scenario
// file's directory, or the lines themselves when the value has a newline.
func (s *Scenario) loadTraces(pos map[string]Pos, file string) Errors {
	var errs Errors
	var added []TimelineEntry
	at := func(path string) Pos {
		if p, ok := pos[path]; ok {
			return p
		}
		return Pos{File: file, Line: 1, Col: 1}
	}
	load := func(path string, d *Direction) {
		if d == nil || d.Trace == nil {
			return
		}
		text, name, err := traceText(file, *d.Trace)
		if err == nil && isChangesCSV(text) {
			// Timed changes: timeline entries of this direction, which
			// either backend makes (the kernel's at each change), laid
			// over its base settings (a base rate holds until a row
			// changes it).
			var entries []TimelineEntry
			if entries, err = parseChangesCSV(name, text, path, s.Duration); err == nil {
				added = append(added, entries...)
				return
			}
		} else if d.Rate != nil {
			errs = append(errs, &FieldError{Pos: at(path + ".trace"), Path: path + ".trace", Msg: "a mahimahi trace and a rate at once: the trace is the rate; remove " + path + ".rate (a CSV of timed changes may have a base rate)"})
			return
		}
		if err == nil {
			d.TraceData, err = impair.ParseMahimahi(name, strings.NewReader(text))
		}
		if err != nil {
			errs = append(errs, &FieldError{Pos: at(path + ".trace"), Path: path + ".trace", Msg: err.Error()})
		}
	}
	dirs := func(prefix string, both, down, up *Direction) {
		load(prefix+".both", both)
		load(prefix+".down", down)
		load(prefix+".up", up)
	}
	dirs("link", s.Link.Both, s.Link.Down, s.Link.Up)
	for i := range s.Timeline {
		if c := s.Timeline[i].Link; c != nil {
			dirs(fmt.Sprintf("timeline[%d].link", i), c.Both, c.Down, c.Up)
		}
	}
	if len(s.Timeline)+len(added) > listLimits["timeline"] {
		errs = append(errs, &FieldError{Pos: at("link"), Path: "link", Msg: fmt.Sprintf("the timeline and the traces' changes are %d entries; at most %d", len(s.Timeline)+len(added), listLimits["timeline"])})
	}
	if len(errs) == 0 {
		s.Timeline = append(s.Timeline, added...)
	}
	return errs
}

// isChangesCSV says whether a trace's text is a CSV of timed changes (its
// first line that is not a comment has a comma) rather than mahimahi's
// one time a line.
func isChangesCSV(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return strings.Contains(l, ",")
	}
	return false
}

// changeColumns are the columns a CSV of timed changes may have (time
// first, then any of the others, named in its header).
var changeColumns = []string{"time", "rate", "delay", "jitter", "loss"}

// parseChangesCSV reads a CSV of timed changes of the direction at path
// ("link.down"): a header naming its columns (time, then any of rate,
// delay, jitter, loss), then one row per change, times rising from 0 and
// below duration, each value in the scenario's units; an empty cell keeps
// the value before. Each row is a timeline entry lasting to the next row
// (the last one to the end).
func parseChangesCSV(name, text, path string, duration units.Duration) ([]TimelineEntry, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	var rows [][]string
	var lines []int
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		rows, lines = append(rows, row), append(lines, line)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: a header (time,rate,delay,jitter,loss — time first) and at least one row of changes", name)
	}
	head := rows[0]
	if len(head) == 0 || strings.TrimSpace(head[0]) != "time" {
		return nil, fmt.Errorf("%s:%d: the header's first column is time (then any of rate, delay, jitter, loss), not %q", name, lines[0], strings.Join(head, ","))
	}
	for _, h := range head {
		if !slices.Contains(changeColumns, strings.TrimSpace(h)) {
			return nil, fmt.Errorf("%s:%d: column %q: accepted: %s", name, lines[0], h, strings.Join(changeColumns, ", "))
		}
	}
	dir := strings.TrimPrefix(path, "link.")
	var out []TimelineEntry
	prev := units.Duration(-1)
	for i, row := range rows[1:] {
		n := lines[i+1]
		if len(row) != len(head) {
			return nil, fmt.Errorf("%s:%d: %d cells, the header has %d", name, n, len(row), len(head))
		}
		var e TimelineEntry
		d := &Direction{}
		for k, cell := range row {
			cell = strings.TrimSpace(cell)
			if cell == "" {
				if k == 0 {
					return nil, fmt.Errorf("%s:%d: no time", name, n)
				}
				continue
			}
			var err error
			switch strings.TrimSpace(head[k]) {
			case "time":
				err = e.At.UnmarshalText([]byte(cell))
			case "rate":
				var v units.Rate
				if err = v.UnmarshalText([]byte(cell)); err == nil {
					d.Rate = &v
				}
			case "delay":
				var v units.Duration
				if err = v.UnmarshalText([]byte(cell)); err == nil {
					d.Delay = &v
				}
			case "jitter":
				var v units.Duration
				if err = v.UnmarshalText([]byte(cell)); err == nil {
					d.Jitter = &v
				}
			case "loss":
				var v units.Percent
				if err = v.UnmarshalText([]byte(cell)); err == nil {
					d.Loss = &v
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s %q: %v", name, n, head[k], cell, err)
			}
		}
		if e.At <= prev || e.At >= duration {
			return nil, fmt.Errorf("%s:%d: time %v must come after the row before and below duration %v", name, n, e.At, duration)
		}
		prev = e.At
		c := &Change{}
		switch dir {
		case "both":
			c.Both = d
		case "down":
			c.Down = d
		case "up":
			c.Up = d
		default:
			return nil, fmt.Errorf("%s: timed changes are a link direction's (link.down, link.up or link.both), not %s's", name, path)
		}
		e.Link = c
		out = append(out, e)
	}
	for i := range out[:len(out)-1] {
		f := out[i+1].At - out[i].At
		out[i].For = &f
	}
	return out, nil
}

// traceText is a trace's text and name: the value's lines when it has a
// newline, else the regular file it names (relative to the scenario's
// directory).
func traceText(scenarioFile, v string) (text, name string, err error) {
	if strings.Contains(v, "\n") {
		return v, "inline trace", nil
	}
	name = v
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(scenarioFile), name)
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", "", fmt.Errorf("read trace: %w (a file in mahimahi's format or a CSV of timed changes, relative to the scenario file)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("read trace %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("read trace %s: not a regular file (%s)", name, fileKind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxTraceFile+1))
	if err != nil {
		return "", "", fmt.Errorf("read trace %s: %w", name, err)
	}
	if len(b) > MaxTraceFile {
		return "", "", fmt.Errorf("read trace %s: more than %d bytes", name, MaxTraceFile)
	}
	return string(b), name, nil
}
