// Package report turns a run's recorded data (samples.jsonl, events.jsonl)
// into a Summary: per-window and whole-run classification of the transfer as
// sender-, receiver- or network-limited with sub-cause and evidence, the data
// accounting of each peer, the outcome of the expectations (the expectation
// language and its one table of subjects live here: expect.go), and, for a
// sweep point, each side's detection time against the kernel's rule
// (detection.go, from the failure record.Failure describes). It renders the
// Summary as report.json, text, Markdown, JUnit and HTML.
//
// It runs nothing and reads only recorded data (record's types); it must
// not import scenario (but scenario/units), lab, netem or peers
// (internal/arch's test holds it).
package report
