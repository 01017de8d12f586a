// Package report turns a run's recorded data (samples.jsonl, events.jsonl)
// into a Summary: per-window and whole-run classification of the transfer as
// sender-, receiver- or network-limited with sub-cause and evidence, the data
// accounting of each peer, and the outcome of the expectations. It renders
// the Summary as report.json and as text.
//
// It runs nothing and reads only recorded data (record's types); it must
// not import scenario, netem or peers (internal/arch's test holds it).
package report
