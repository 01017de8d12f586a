package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
)

// writeMeta writes (or completes) meta.json.
func writeMeta(rd *record.Dir, meta report.Meta) error {
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", record.FileMeta, err)
	}
	return rd.WriteFile(record.FileMeta, append(mb, '\n'))
}

// writeReport completes the run's meta data and renders every report
// format from the run directory's recorded data.
func writeReport(rd *record.Dir, meta report.Meta, s *scenario.Scenario) (report.Summary, error) {
	if err := writeMeta(rd, meta); err != nil {
		return report.Summary{}, err
	}
	samples, events, err := readRecorded(rd, false)
	if err != nil {
		return report.Summary{}, err
	}
	sum, files, err := renderReport(meta, s, samples, events)
	if err != nil {
		return sum, err
	}
	return sum, writeFiles(rd, files)
}

// Limits of what tcplab report reads from a run directory besides the
// samples and events (whose lines are bounded by record.MaxLine).
const maxMetaSize = 16 << 20

// ErrNoData marks a run directory whose recorded data is missing or empty:
// tcplab report leaves its reports as they are.
var ErrNoData = errors.New("no recorded data to judge")

// readRecorded reads samples.jsonl and events.jsonl. strict (tcplab
// report): both must exist and the samples must hold at least one sample.
func readRecorded(rd *record.Dir, strict bool) ([]tcpinfo.Sample, []peers.Event, error) {
	read := func(name string, decode func(f *os.File) error) error {
		f, err := rd.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !strict {
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
	var samples []tcpinfo.Sample
	var events []peers.Event
	err := errors.Join(
		read(record.FileSamples, func(f *os.File) (err error) {
			samples, err = record.DecodeSamples(f, rd.Join(record.FileSamples))
			return
		}),
		read(record.FileEvents, func(f *os.File) (err error) { events, err = record.DecodeEvents(f, rd.Join(record.FileEvents)); return }),
	)
	if err != nil {
		return nil, nil, err
	}
	if strict && len(samples) == 0 {
		return nil, nil, fmt.Errorf("%w: %s holds no samples", ErrNoData, rd.Join(record.FileSamples))
	}
	return samples, events, nil
}

// Rerender renders every report format of a finished run again from what
// it recorded (scenario.yaml, meta.json, samples.jsonl, events.jsonl): no
// root, no network. report.json comes out byte for byte as the run wrote it.
// Reports are never made worse: with its recorded data missing, empty or
// unreadable it writes nothing and says why (ErrNoData). A run killed before
// its end (meta.json without an end record) is reported as killed, with
// what it recorded.
func Rerender(dir string) (*Result, error) {
	rd, err := record.Open(dir)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	sb, err := rd.ReadFile(record.FileScenario, scenario.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory: %w", dir, err)
	}
	s, err := scenario.Parse(rd.Join(record.FileScenario), sb)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory: %w", dir, err)
	}
	mb, err := rd.ReadFile(record.FileMeta, maxMetaSize)
	if err != nil {
		return nil, fmt.Errorf("%s is not a run directory (or one from before meta.json was kept): %w", dir, err)
	}
	var meta report.Meta
	if err := json.Unmarshal(mb, &meta); err != nil {
		return nil, fmt.Errorf("read %s: %w", rd.Join(record.FileMeta), err)
	}
	samples, events, err := readRecorded(rd, true)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	sum, files, err := renderReport(meta, s, samples, events)
	if err != nil {
		return nil, fmt.Errorf("%w; the reports in %s are left as they are", err, dir)
	}
	if err := writeFiles(rd, files); err != nil {
		return nil, err
	}
	return &Result{Dir: dir, Summary: sum}, nil
}

// reportFile is one rendered report and its file name.
type reportFile struct {
	name string
	data []byte
}

// renderReport judges the recorded data and renders every format in
// memory: nothing is written unless all of them rendered.
func renderReport(meta report.Meta, s *scenario.Scenario, samples []tcpinfo.Sample, events []peers.Event) (report.Summary, []reportFile, error) {
	exps, err := Expectations(s)
	if err != nil {
		return report.Summary{}, nil, err
	}
	sum := report.Build(meta, samples, events, int64(s.Window))
	for _, e := range exps {
		sum.Expectations = append(sum.Expectations, e.Check(&sum))
	}
	sum.Pass = sum.Passed()
	js, err := report.MarshalJSON(&sum)
	if err != nil {
		return sum, nil, err
	}
	files := []reportFile{{record.FileReport, js}}
	var errs []error
	render := func(name string, fn func(io.Writer) error) {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", name, err))
			return
		}
		files = append(files, reportFile{name, b.Bytes()})
	}
	render(record.FileText, func(w io.Writer) error { report.WriteText(w, &sum); return nil })
	render(record.FileMarkdown, func(w io.Writer) error { return report.WriteMarkdown(w, &sum) })
	render(record.FileJUnit, func(w io.Writer) error { return report.WriteJUnit(w, []*report.Summary{&sum}) })
	render(record.FileHTML, func(w io.Writer) error { return report.WriteHTML(w, &sum, samples, events) })
	return sum, files, errors.Join(errs...)
}

func writeFiles(rd *record.Dir, files []reportFile) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, rd.WriteFile(f.name, f.data))
	}
	return errors.Join(errs...)
}
