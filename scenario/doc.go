// Package scenario owns the scenario file format: the types, strict YAML
// loading with file:line:col errors, defaults, validation, matrix expansion
// into sweep points, the link model (a direction's impairment, the link as
// the timeline has made it at a moment), the JSON Schema and the field
// reference in docs/scenario.md.
//
// It does not run anything and does not judge: lab runs a scenario, report
// reads and judges its expectations (report.ParseExpect; lab.Check refuses
// a bad one before a run, with its position in the file). Quantities with
// units are scenario/units'.
package scenario
