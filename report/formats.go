package report

import (
	"io"

	"github.com/tcplab/tcplab/record"
)

// Renderer writes one format of a run's report.
type Renderer func(w io.Writer, s *Summary) error

// Format is one file of a run's report and the renderer that writes it.
type Format struct {
	File   string
	Render Renderer
}

// Formats is the one table of a run's report files, report.json first. A
// new output format is a renderer and a line here.
var Formats = []Format{
	{record.FileReport, WriteJSON},
	{record.FileText, WriteText},
	{record.FileMarkdown, WriteMarkdown},
	{record.FileJUnit, WriteJUnit},
	{record.FileHTML, WriteHTML},
}
