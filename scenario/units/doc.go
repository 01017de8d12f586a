// Package units owns the quantities a scenario file writes with their unit —
// Duration, Rate, Size, Percent and the sender's FlowRate: parsing them from
// text, printing them back the way a file writes them, and their
// encoding.TextMarshaler/TextUnmarshaler forms (YAML and JSON use those).
//
// It imports nothing of tcplab's.
package units
