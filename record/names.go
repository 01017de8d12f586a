package record

// The files of a run directory.
const (
	FileScenario = "scenario.yaml" // the scenario as it ran, defaults filled in
	FileSamples  = "samples.jsonl" // every tcp_info sample of both ends
	FileEvents   = "events.jsonl"  // connects, closes, accounting, timeline
	FileReport   = "report.json"   // the report as data
	FileText     = "report.txt"    // the report for people
	FileMeta     = "meta.json"     // what the run knew of itself, and how it ended
	FileMarkdown = "summary.md"    // for $GITHUB_STEP_SUMMARY
	FileJUnit    = "junit.xml"     // one test case per expectation
	FileHTML     = "report.html"   // charts, one self-contained page
	FilePcap     = "link.pcap"     // what crossed the userspace link (--pcap)
)

// The files of a sweep's directory (each point runs in its own
// subdirectory).
const (
	FileSweep     = "sweep.json"
	FileSweepText = "sweep.txt"
	FileSweepMD   = "sweep.md"
	FileSweepHTML = "sweep.html"
)
