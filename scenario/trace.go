package scenario

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tcplab/tcplab/netem/impair"
)

// MaxTraceFile bounds a trace file's size (a minute at 1 Gbit/s in
// mahimahi's format is about 45 MB).
const MaxTraceFile = 128 << 20

// loadTraces reads every link.*.trace of the scenario (its base link and
// its timeline's changes) into TraceData: a file relative to the scenario
// file's directory, or the lines themselves when the value has a newline.
func (s *Scenario) loadTraces(pos map[string]Pos, file string) Errors {
	var errs Errors
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
		if d.Rate != nil {
			errs = append(errs, &FieldError{Pos: at(path + ".trace"), Path: path + ".trace", Msg: "a trace and a rate at once: the trace is the rate; remove " + path + ".rate"})
			return
		}
		tr, err := readTrace(file, *d.Trace)
		if err != nil {
			errs = append(errs, &FieldError{Pos: at(path + ".trace"), Path: path + ".trace", Msg: err.Error()})
			return
		}
		d.TraceData = tr
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
	return errs
}

// readTrace reads a trace: the value's lines when it has a newline, else
// the regular file it names (relative to the scenario's directory).
func readTrace(scenarioFile, v string) (*impair.Trace, error) {
	if strings.Contains(v, "\n") {
		return impair.ParseMahimahi("inline trace", strings.NewReader(v))
	}
	name := v
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(scenarioFile), name)
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read trace: %w (a file in mahimahi's format, relative to the scenario file)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read trace %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read trace %s: not a regular file (%s)", name, fileKind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxTraceFile+1))
	if err != nil {
		return nil, fmt.Errorf("read trace %s: %w", name, err)
	}
	if len(b) > MaxTraceFile {
		return nil, fmt.Errorf("read trace %s: more than %d bytes", name, MaxTraceFile)
	}
	return impair.ParseMahimahi(name, bytes.NewReader(b))
}
