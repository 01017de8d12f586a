package lab

import (
	"fmt"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// metaFile is meta.json for a run of s: its Meta and its expectations as
// report reads them again.
func metaFile(meta record.Meta, s *scenario.Scenario) (record.MetaFile, error) {
	exps, err := Expectations(s)
	if err != nil {
		return record.MetaFile{}, err
	}
	m := record.MetaFile{Meta: meta}
	for _, e := range exps {
		m.Expect = append(m.Expect, report.RecordExpect(e))
	}
	return m, nil
}

// writeMeta writes (or completes) meta.json.
func writeMeta(rd *record.Dir, meta record.Meta, s *scenario.Scenario) error {
	m, err := metaFile(meta, s)
	if err != nil {
		return err
	}
	return record.WriteMeta(rd, m)
}

// writeReport completes the run's meta.json and has report judge the run
// directory's records and render every format (in memory first: nothing is
// written unless all of them rendered).
func writeReport(rd *record.Dir, meta record.Meta, s *scenario.Scenario) (report.Summary, error) {
	m, err := metaFile(meta, s)
	if err != nil {
		return report.Summary{}, err
	}
	if err := record.WriteMeta(rd, m); err != nil {
		return report.Summary{}, err
	}
	rec, err := report.ReadRecorded(rd, false)
	if err != nil {
		return report.Summary{}, err
	}
	sum, err := report.Judge(m, rec)
	if err != nil {
		return sum, err
	}
	files, err := report.RenderAll(&sum)
	if err != nil {
		return sum, err
	}
	return sum, report.WriteAll(rd, files)
}

// ErrNoData marks a run directory whose recorded data is missing or empty.
var ErrNoData = report.ErrNoData

// Rerender renders every report format of a finished run again from what
// it recorded (report.Rerender: no root, no network; report.json comes out
// byte for byte as the run wrote it, and nothing is made worse). A run
// recorded before meta.json kept the expectations gets them from its
// scenario.yaml.
func Rerender(dir string) (*Result, error) {
	sum, err := report.Rerender(dir, expectationsFromScenario)
	if err != nil {
		return nil, err
	}
	return &Result{Dir: dir, Summary: *sum}, nil
}

// expectationsFromScenario fills in the expectations of a meta.json
// written before it kept them, from the run's scenario.yaml.
func expectationsFromScenario(rd *record.Dir, m *record.MetaFile) error {
	if m.Expect != nil || m.Watch != nil {
		return nil // a watch has no scenario and no expectations
	}
	sb, err := rd.ReadFile(record.FileScenario, scenario.MaxFileSize)
	if err != nil {
		return err
	}
	s, err := scenario.Parse(rd.Join(record.FileScenario), sb)
	if err != nil {
		return err
	}
	full, err := metaFile(m.Meta, s)
	if err != nil {
		return fmt.Errorf("%s: %w", rd.Join(record.FileScenario), err)
	}
	m.Expect = full.Expect
	return nil
}
