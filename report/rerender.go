package report

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// RecordExpect is how meta.json keeps e.
func RecordExpect(e Expect) record.ExpectRecord {
	r := record.ExpectRecord{Source: e.Source}
	if e.Entry >= 0 {
		r.FromS, r.ToS = e.From, e.To
	}
	return r
}

// Expectations reads meta.json's expectations again with the grammar (a
// meta.json is data, not trusted code: each is parsed anew).
func Expectations(m *record.MetaFile) ([]Expect, error) {
	out := make([]Expect, 0, len(m.Expect))
	for i, r := range m.Expect {
		e, err := ParseExpect(r.Source)
		if err != nil {
			return nil, fmt.Errorf("%s: expect[%d]: %w", record.FileMeta, i, err)
		}
		if e.Entry >= 0 {
			e.From, e.To = r.FromS, r.ToS
		}
		out = append(out, e)
	}
	return out, nil
}

// ErrNoData marks a run directory whose recorded data is missing or empty:
// tcplab report leaves its reports as they are.
var ErrNoData = errors.New("no recorded data to judge")

// Recorded is what a run recorded besides meta.json: the tcp_info samples,
// the events and the wire's connections (nil: a run before the wire was
// followed).
type Recorded struct {
	Samples []tcpinfo.Sample
	Events  []record.Event
	Conns   []record.WireConn
}

// ReadRecorded reads samples.jsonl, events.jsonl and connections.jsonl of
// a run directory. strict (tcplab report): the first two must exist and
// the samples must hold at least one sample.
func ReadRecorded(rd *record.Dir, strict bool) (Recorded, error) {
	read := func(name string, must bool, decode func(f *os.File) error) error {
		f, err := rd.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !must {
				return nil
			}
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%w: %s is missing", ErrNoData, rd.Join(name))
			}
			return err
		}
		defer f.Close()
		return decode(f)
	}
	var rec Recorded
	err := errors.Join(
		read(record.FileSamples, strict, func(f *os.File) (err error) {
			rec.Samples, err = record.DecodeSamples(f, rd.Join(record.FileSamples))
			return
		}),
		read(record.FileEvents, strict, func(f *os.File) (err error) {
			rec.Events, err = record.DecodeEvents(f, rd.Join(record.FileEvents))
			return
		}),
		read(record.FileConnections, false, func(f *os.File) (err error) {
			rec.Conns, err = record.DecodeConns(f, rd.Join(record.FileConnections))
			if rec.Conns == nil && err == nil {
				rec.Conns = []record.WireConn{}
			}
			return
		}),
	)
	if err != nil {
		return Recorded{}, err
	}
	if strict && len(rec.Samples) == 0 {
		return Recorded{}, fmt.Errorf("%w: %s holds no samples", ErrNoData, rd.Join(record.FileSamples))
	}
	return rec, nil
}

// Judge builds the Summary of a recorded run and judges its expectations.
func Judge(m record.MetaFile, rec Recorded) (Summary, error) {
	exps, err := Expectations(&m)
	if err != nil {
		return Summary{}, err
	}
	window := int64(math.Round(m.WindowS * float64(time.Second)))
	sum := Build(m.Meta, rec.Samples, rec.Events, window)
	sum.addWire(rec.Conns)
	sum.addHTTP(rec.Events)
	for _, e := range exps {
		sum.Expectations = append(sum.Expectations, e.Check(&sum))
	}
	sum.judgeTrust(rec.Samples)
	sum.Pass = sum.Passed()
	return sum, nil
}

// Rendered is one report file rendered in memory.
type Rendered struct {
	File string
	Data []byte
}

// RenderAll renders every format of Formats in memory: nothing is written
// unless all of them rendered.
func RenderAll(s *Summary) ([]Rendered, error) {
	var out []Rendered
	var errs []error
	for _, f := range Formats {
		var b bytes.Buffer
		if err := f.Render(&b, s); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", f.File, err))
			continue
		}
		out = append(out, Rendered{f.File, b.Bytes()})
	}
	return out, errors.Join(errs...)
}

// WriteAll writes rendered files into the run directory.
func WriteAll(rd *record.Dir, files []Rendered) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, rd.WriteFile(f.File, f.Data))
	}
	return errors.Join(errs...)
}

// Rerender judges a finished run again from what it recorded (meta.json,
// samples.jsonl, events.jsonl) and rewrites every report format: no root,
// no network. report.json comes out byte for byte as the run wrote it.
// Reports are never made worse: with the recorded data missing, empty or
// unreadable it writes nothing and says why (ErrNoData). A run killed
// before its end (meta.json without an end record) is reported as killed,
// with what it recorded. fill, when not nil, may complete a meta.json
// recorded by an older tcplab (lab fills in the expectations from the run's
// scenario.yaml).
func Rerender(dir string, fill func(rd *record.Dir, m *record.MetaFile) error) (*Summary, error) {
	rd, err := record.Open(dir)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	m, err := record.ReadMeta(rd)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory (or one from before meta.json was kept): %w", dir, err)
	}
	if fill != nil {
		if err := fill(rd, &m); err != nil {
			return nil, fmt.Errorf("%s is not a run directory: %w", dir, err)
		}
	}
	rec, err := ReadRecorded(rd, true)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	sum, err := Judge(m, rec)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	files, err := RenderAll(&sum)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	if err := WriteAll(rd, files); err != nil {
		return nil, err
	}
	return &sum, nil
}
