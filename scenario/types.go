package scenario

import "time"

// Scenario is one scenario file, format version 1. The `doc` tags feed the
// reference in docs/scenario.md (a test keeps the two in step); `default`
// tags name the value Defaults fills in.
type Scenario struct {
	Name           string   `yaml:"name" doc:"Name of the scenario; names the run directory. Letters, digits, '-', '_' and '.'." default:"file name without .yaml"`
	Description    string   `yaml:"description,omitempty" doc:"What the scenario shows, free text."`
	Duration       Duration `yaml:"duration" doc:"How long traffic flows, from the first connect attempt. 1s..1h." default:"10s"`
	SampleInterval Duration `yaml:"sample_interval" doc:"How often tcp_info is read on both ends. 1ms..1s, below duration." default:"10ms"`
	Window         Duration `yaml:"window" doc:"Length of a classification window. 100ms..duration; the kernel's limit counters move in 4 ms steps, so shorter windows are noise." default:"250ms"`
	Link           Link     `yaml:"link" doc:"The path between sender and receiver."`
	Sender         Sender   `yaml:"sender" doc:"The built-in sending peer, in the sender's namespace."`
	Receiver       Receiver `yaml:"receiver" doc:"The built-in receiving peer, in the receiver's namespace."`
	Expect         []Expect `yaml:"expect,omitempty" doc:"Checks on the outcome; any failing one makes tcplab exit 1. Grammar: 'verdict == CLASS' or 'verdict != CLASS', CLASS one of sender-limited, receiver-limited, network-limited, mixed."`
}

// Link is the path between the two namespaces. "down" carries the sender's
// data towards the receiver; "up" carries the receiver's ACKs back. "both"
// sets both directions; a direction's own setting overrides it.
type Link struct {
	Both *Direction `yaml:"both,omitempty" doc:"Settings for both directions."`
	Down *Direction `yaml:"down,omitempty" doc:"Sender → receiver (data). Overrides both."`
	Up   *Direction `yaml:"up,omitempty" doc:"Receiver → sender (ACKs). Overrides both."`
}

// Direction is the impairment of one direction.
type Direction struct {
	Rate *Rate `yaml:"rate,omitempty" doc:"Rate limit (tbf): a bit rate like 20mbit or a byte rate like 2MB/s, or max for none." default:"max"`
}

// Sender is the built-in sender.
type Sender struct {
	Listen  *bool   `yaml:"listen,omitempty" doc:"true: the sender listens and the receiver connects; false: the receiver listens." default:"false"`
	Port    int     `yaml:"port,omitempty" doc:"TCP port of the listening side. 1..65535." default:"5001"`
	Rate    *Rate   `yaml:"rate,omitempty" doc:"Application send rate: max (bulk, as fast as the socket takes) or a rate like 5mbit (paced)." default:"max"`
	Message Message `yaml:"message,omitempty" doc:"Message framing."`
	Socket  Socket  `yaml:"socket,omitempty" doc:"Socket options of the sender's socket."`
}

// Message describes the framed messages the sender writes.
type Message struct {
	Size Size `yaml:"size,omitempty" doc:"Bytes per message, header (20 B: length, sequence, send time) included. 20B..1MiB." default:"1KiB"`
}

// Receiver is the built-in receiver.
type Receiver struct {
	Read   Read   `yaml:"read,omitempty" doc:"How the application reads."`
	Socket Socket `yaml:"socket,omitempty" doc:"Socket options of the receiver's socket."`
}

// Read is the receiving application's read pattern.
type Read struct {
	Rate *Rate `yaml:"rate,omitempty" doc:"Read rate: max (read as fast as data comes) or a rate like 2MB/s." default:"max"`
	Size Size  `yaml:"size,omitempty" doc:"Bytes asked per read() call. 1B..16MiB." default:"64KiB"`
}

// Socket holds socket options. Unset fields keep the kernel's defaults.
type Socket struct {
	Sndbuf     Size   `yaml:"sndbuf,omitempty" doc:"SO_SNDBUF to ask for (the kernel doubles it; the effective value is recorded). Unset: autotuning."`
	Rcvbuf     Size   `yaml:"rcvbuf,omitempty" doc:"SO_RCVBUF to ask for (the kernel doubles it). Unset: autotuning."`
	NoDelay    *bool  `yaml:"nodelay,omitempty" doc:"TCP_NODELAY: true disables Nagle's algorithm (the effective value is recorded)." default:"true (Go's default)"`
	Congestion string `yaml:"congestion,omitempty" doc:"Congestion control: one of the names in CongestionAlgorithms, available in the kernel (see tcplab doctor). Unset: the kernel's default."`
}

// CongestionAlgorithms are the congestion-control names tcplab accepts; the
// run checks that the kernel has the one chosen.
var CongestionAlgorithms = []string{"cubic", "bbr", "reno", "dctcp", "htcp", "vegas", "westwood", "bic", "hybla", "illinois", "scalable", "veno", "yeah", "lp", "nv", "cdg", "highspeed"}

// Defaults of the format, in one place.
const (
	DefaultDuration       = Duration(10 * time.Second)
	DefaultSampleInterval = Duration(10 * time.Millisecond)
	DefaultWindow         = Duration(250 * time.Millisecond)
	DefaultPort           = 5001
	DefaultMessageSize    = Size(1024)
	DefaultReadSize       = Size(64 << 10)
)

// ApplyDefaults fills every unset field with its default. It is the only
// place defaults are decided.
func (s *Scenario) ApplyDefaults(fileBase string) {
	if s.Name == "" {
		s.Name = fileBase
	}
	if s.Duration == 0 {
		s.Duration = DefaultDuration
	}
	if s.SampleInterval == 0 {
		s.SampleInterval = DefaultSampleInterval
	}
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.Sender.Listen == nil {
		f := false
		s.Sender.Listen = &f
	}
	if s.Sender.Port == 0 {
		s.Sender.Port = DefaultPort
	}
	if s.Sender.Rate == nil {
		s.Sender.Rate = new(Rate)
	}
	if s.Sender.Message.Size == 0 {
		s.Sender.Message.Size = DefaultMessageSize
	}
	if s.Receiver.Read.Rate == nil {
		s.Receiver.Read.Rate = new(Rate)
	}
	if s.Receiver.Read.Size == 0 {
		s.Receiver.Read.Size = DefaultReadSize
	}
}

// DownRate and UpRate resolve the link's rate per direction (0: no limit).
func (l Link) DownRate() Rate { return l.rate(l.Down) }

// UpRate is the receiver → sender rate limit (0: none).
func (l Link) UpRate() Rate { return l.rate(l.Up) }

func (l Link) rate(d *Direction) Rate {
	if d != nil && d.Rate != nil {
		return *d.Rate
	}
	if l.Both != nil && l.Both.Rate != nil {
		return *l.Both.Rate
	}
	return 0
}
