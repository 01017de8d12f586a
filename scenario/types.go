package scenario

import (
	"time"

	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario/units"
)

// Scenario is one scenario file, format version 1. The `doc` tags feed the
// reference in docs/scenario.md (a test keeps the two in step); `default`
// tags name the value Defaults fills in.
type Scenario struct {
	Name           string          `yaml:"name" doc:"Name of the scenario; names the run directory. Letters, digits, '-', '_' and '.'." default:"file name without .yaml"`
	Description    string          `yaml:"description,omitempty" doc:"What the scenario shows, free text."`
	Duration       units.Duration  `yaml:"duration" doc:"How long traffic flows, from the first connect attempt. 1s..1h." default:"10s"`
	SampleInterval units.Duration  `yaml:"sample_interval" doc:"How often tcp_info is read on both ends. 1ms..1s, below duration, and at most half the window (so 1ms..125ms with the default 250ms window: two samples per window)." default:"10ms"`
	Window         units.Duration  `yaml:"window" doc:"Length of a classification window. 100ms..duration, and at least two sample intervals; the kernel's limit counters move in 4 ms steps, so shorter windows are noise." default:"250ms"`
	Link           Link            `yaml:"link" doc:"The path between sender and receiver."`
	Sender         Sender          `yaml:"sender" doc:"The built-in sending peer, in the sender's namespace."`
	Receiver       Receiver        `yaml:"receiver" doc:"The built-in receiving peer, in the receiver's namespace."`
	Timeline       []TimelineEntry `yaml:"timeline,omitempty" doc:"Changes to the link during the run, in time order."`
	Expect         []Expect        `yaml:"expect,omitempty" doc:"Checks on the outcome; any failing one makes tcplab exit 1. Grammar: SUBJECT OP VALUE, like 'verdict == receiver-limited', 'messages.lost == 0', 'lag.p99 < 2s', 'receiver_limited >= 60%', 'client(0).resets == 1'. Subjects: verdict, messages.sent/delivered/lost/duplicated/dropped/undelivered, disconnects, resets, reconnects, connections (as the wire saw them), connections.reused/closed_by(client)/closed_by(server)/reset/refused/open, exchanges, handshake.p50/p99/max, first_byte.p50/p99, idle.max, session.max, requests/requests.ok/requests.failed, requests.latency.p50/p99 (the built-in http_client), lag.p50/p99/max, rtt.min, rtt.srtt, retrans_rate, detection.sender/receiver (after the failure: a vanish, the first partition, reboot, kill or freeze, or the NAT forgetting the connection), receiver_limited/sender_limited/network_limited/mixed (share of windows), client(N).verdict/resets/lost/delivered/connections/disconnects/max_backlog, phase(FROM..TO).verdict (the windows inside that span), timeline[N].verdict (the windows inside that entry's span). OP: == != < <= > >= (verdicts: == !=). In a sweep, 'STATEMENT if KEY=VALUE[, KEY=VALUE]' holds only at the points where those matrix keys have those values."`
}

// Link is the path between the two namespaces. "down" carries the sender's
// data towards the receiver; "up" carries the receiver's ACKs back. "both"
// sets both directions; a direction's own setting overrides it field by field.
type Link struct {
	Backend string     `yaml:"backend,omitempty" doc:"Who impairs the link: auto, netem (kernel qdiscs on a veth pair; needs sch_netem unless only rate is set) or userspace (tcplab's emulator between two TUN devices). auto uses the kernel when it has every qdisc needed, else userspace." default:"auto"`
	Seed    *int       `yaml:"seed,omitempty" doc:"Seed of the random decisions (loss, jitter, …) so runs can be repeated. 1..2^31." default:"random"`
	Both    *Direction `yaml:"both,omitempty" doc:"Settings for both directions."`
	Down    *Direction `yaml:"down,omitempty" doc:"Sender → receiver (data). Overrides both."`
	Up      *Direction `yaml:"up,omitempty" doc:"Receiver → sender (ACKs). Overrides both."`
	NAT     *NAT       `yaml:"nat,omitempty" doc:"A NAT or stateful firewall on the path that forgets a connection after it has been idle (no packet either way) for idle_timeout. Needs the userspace link (auto picks it)."`
	Wire    *bool      `yaml:"wire,omitempty" doc:"Follow every connection on the wire (connections.jsonl: handshake, exchanges, idle, who closed). false saves the kernel backend's packet ring, measured at about 12% of an unimpaired veth's bulk goodput on 2 cores (the userspace link's cost is not measurable); expectations on the wire then fail as unknown." default:"true"`
}

// WireFollowed says whether the run follows its connections on the wire.
func (l *Link) WireFollowed() bool { return l.Wire == nil || *l.Wire }

// NAT is a middlebox that forgets idle flows, as home routers, carrier-grade
// NATs, cloud load balancers and firewalls do.
type NAT struct {
	IdleTimeout units.Duration `yaml:"idle_timeout" doc:"How long a connection may be idle before the middlebox forgets it. 1s..1h."`
	Expired     string         `yaml:"expired,omitempty" doc:"What happens to a forgotten connection's packets: drop (silently, as most NATs and firewalls do) or rst (answered with an RST to their sender, as some firewalls and load balancers do). A new connection (SYN) is let through either way." default:"drop"`
}

// NATExpired are the accepted values of link.nat.expired.
var NATExpired = []string{"drop", "rst"}

// Direction is the impairment of one direction, with netem's meaning.
type Direction struct {
	Rate  *units.Rate `yaml:"rate,omitempty" doc:"Rate limit: a bit rate like 20mbit or a byte rate like 2MB/s, or max for none." default:"max"`
	Trace *string     `yaml:"trace,omitempty" doc:"A trace the direction follows, a file relative to the scenario file or the lines themselves (a YAML block): mahimahi's format (one line per delivery opportunity of 1500 bytes, its time in whole ms; the trace loops over its last line's time; not with a rate; the userspace link only, auto picks it), or a CSV of timed changes (a header time,rate,delay,jitter,loss — time first, any of the others — then a row per change; each row becomes a timeline entry of this direction, which either backend makes, laid over its base settings: a rate beside it holds until a row changes it)."`
	// TraceData is the trace read from Trace when the file was loaded.
	TraceData            *impair.Trace       `yaml:"-" json:"-"`
	Overhead             *int                `yaml:"overhead,omitempty" doc:"Bytes added to each packet when computing its time on the wire at rate (netem overhead). -1500..1500." default:"0"`
	Queue                *int                `yaml:"queue,omitempty" doc:"Queue limit in packets (netem limit; a TSO super-packet counts once). 1..1000000." default:"1000"`
	Delay                *units.Duration     `yaml:"delay,omitempty" doc:"One-way delay. RTT = down delay + up delay." default:"0s"`
	Jitter               *units.Duration     `yaml:"jitter,omitempty" doc:"Random variation of the delay. Without a rate, jitter reorders packets (netem's meaning)." default:"0s"`
	Distribution         impair.Distribution `yaml:"distribution,omitempty" doc:"Jitter distribution: uniform (±jitter), normal, pareto or paretonormal (σ = jitter)." default:"uniform"`
	DelayCorrelation     *units.Percent      `yaml:"delay_correlation,omitempty" doc:"Correlation of each jitter draw with the previous one." default:"0%"`
	Loss                 *units.Percent      `yaml:"loss,omitempty" doc:"Random loss per packet (per TCP segment in userspace)." default:"0%"`
	LossCorrelation      *units.Percent      `yaml:"loss_correlation,omitempty" doc:"Correlation of each loss draw with the previous one." default:"0%"`
	GilbertElliott       *GilbertElliott     `yaml:"gilbert_elliott,omitempty" doc:"Gilbert-Elliott loss model instead of random loss."`
	Duplicate            *units.Percent      `yaml:"duplicate,omitempty" doc:"Probability that a packet is sent twice." default:"0%"`
	DuplicateCorrelation *units.Percent      `yaml:"duplicate_correlation,omitempty" doc:"Correlation of duplicate draws." default:"0%"`
	Reorder              *Reorder            `yaml:"reorder,omitempty" doc:"Send some packets at once, ahead of the delayed ones (needs delay)."`
	Corrupt              *units.Percent      `yaml:"corrupt,omitempty" doc:"Probability that a packet has one bit flipped (the receiver's checksum then drops it)." default:"0%"`
	CorruptCorrelation   *units.Percent      `yaml:"corrupt_correlation,omitempty" doc:"Correlation of corrupt draws." default:"0%"`
}

// GilbertElliott is netem's "loss gemodel p r 1-h 1-k".
type GilbertElliott struct {
	P         units.Percent  `yaml:"p" doc:"Probability of moving from the good to the bad state."`
	R         units.Percent  `yaml:"r" doc:"Probability of moving from the bad to the good state; mean loss burst is 1/r packets."`
	OneMinusH *units.Percent `yaml:"1-h,omitempty" doc:"Loss probability in the bad state." default:"100%"`
	OneMinusK *units.Percent `yaml:"1-k,omitempty" doc:"Loss probability in the good state." default:"0%"`
}

// Reorder is netem's "reorder probability correlation gap".
type Reorder struct {
	Probability units.Percent  `yaml:"probability" doc:"Probability that a packet skips the delay."`
	Correlation *units.Percent `yaml:"correlation,omitempty" doc:"Correlation of reorder draws." default:"0%"`
	Gap         *int           `yaml:"gap,omitempty" doc:"Only every gap-th packet may be reordered. 1..1000000." default:"1"`
}

// TimelineEntry changes the link at a time of the run, without tearing
// connections down.
type TimelineEntry struct {
	At        units.Duration  `yaml:"at" doc:"When, from the run's start. Below duration."`
	For       *units.Duration `yaml:"for,omitempty" doc:"How long; afterwards the change is undone. Unset: until the end."`
	Link      *Change         `yaml:"link,omitempty" doc:"Link settings laid over the current ones (same fields as link.both/down/up)."`
	Partition string          `yaml:"partition,omitempty" doc:"Cut the path: down, up or both (blackhole: packets vanish, no FIN, no RST), or link-down (both interfaces down)."`
	Reboot    string          `yaml:"reboot,omitempty" doc:"The receiver or the sender reboots: from then on every packet to it is answered with an RST (its new kernel has no connection) and it sends nothing. Needs the userspace link (auto picks it)."`
	Freeze    string          `yaml:"freeze,omitempty" doc:"Freeze the receiver's or sender's process (SIGSTOP; SIGCONT after for): its kernel still answers, its application does nothing."`
	Kill      string          `yaml:"kill,omitempty" doc:"Kill the receiver's or sender's process (SIGKILL): its kernel closes the connection (FIN, or RST with unread data)."`
}

// RebootSides are the accepted values of a timeline entry's reboot.
var RebootSides = []string{"receiver", "sender"}

// Change is a timeline's link change.
type Change struct {
	Both *Direction `yaml:"both,omitempty" doc:"Changes to both directions."`
	Down *Direction `yaml:"down,omitempty" doc:"Changes to sender → receiver."`
	Up   *Direction `yaml:"up,omitempty" doc:"Changes to receiver → sender."`
}

// Partitions accepted in a timeline entry.
var Partitions = []string{"down", "up", "both", "link-down"}

// Backends accepted in link.backend.
var Backends = []string{"auto", "netem", "userspace"}

func ptr[T any](v T) *T { return &v }

// SenderListens says whether the sender is the listening side (after
// ApplyDefaults).
func (s *Scenario) SenderListens() bool { return s.Sender.Listen != nil && *s.Sender.Listen }

// ListenPort is the listening side's port (after ApplyDefaults).
func (s *Scenario) ListenPort() int {
	if s.SenderListens() {
		return s.Sender.Port
	}
	return s.Receiver.Port
}

// Sender is the built-in sender.
type Sender struct {
	Listen  *bool       `yaml:"listen,omitempty" doc:"true: the sender listens and the receiver connects; false: the receiver listens." default:"false unless receiver.listen: false"`
	Port    int         `yaml:"port,omitempty" doc:"TCP port the sender listens on, when it listens (for exec peers: the port whose sockets are sampled); the receiver's port is receiver.port. 1..65535." default:"5001 when the sender listens"`
	Rate    *units.Rate `yaml:"rate,omitempty" doc:"Application send rate: max (bulk, as fast as the socket takes) or a rate like 5mbit (paced)." default:"max"`
	Message Message     `yaml:"message,omitempty" doc:"Message framing."`
	Socket  Socket      `yaml:"socket,omitempty" doc:"Socket options of the sender's socket."`
	Exec    *Exec       `yaml:"exec,omitempty" doc:"Run this command in the sender's namespace instead of the built-in sender; its sockets on port are sampled through sock_diag."`
	HTTP    *HTTPClient `yaml:"http_client,omitempty" doc:"Instead of the feed, an HTTP client on Go's net/http (its connection pool behaves as real clients' do) making requests of the receiver's http_server or program."`
	Policy  *Policy     `yaml:"policy,omitempty" doc:"What the sender does to a consumer that falls behind."`
	// Schedule replaces rate with phases.
	Schedule []Phase `yaml:"schedule,omitempty" doc:"Phases of the send rate, in order, instead of rate: each one of rate (with for), pause, replay, off or ramp. The last phase lasts to the end of the run, unless repeat."`
	Repeat   bool    `yaml:"repeat,omitempty" doc:"Run the schedule again from its first phase after its last, until the end (repeating on/off bursts); every phase then needs its length." default:"false"`
	Resume   bool    `yaml:"resume,omitempty" doc:"Keep produced messages for clients that reconnect asking to resume, and send them from their resume point (backfill). Without it a returning client starts at the live end and what it missed is lost." default:"false"`
}

// Policy is the sender's (server's) treatment of slow consumers.
type Policy struct {
	ResetSlowClient *ResetSlowClient `yaml:"reset_slow_client,omitempty" doc:"Reset (SO_LINGER 0, an RST) a client whose unsent backlog stays above a size for a time."`
	CloseIdle       *units.Duration  `yaml:"close_idle,omitempty" doc:"Close (FIN) a connection the sender has had nothing to write to for this long."`
	Refuse          []Refusal        `yaml:"refuse,omitempty" doc:"Windows in which the listening sender refuses new connections (connections already open go on)."`
}

// Refusal is a window in which the server refuses new connections.
type Refusal struct {
	At   units.Duration `yaml:"at" doc:"When the window starts, from the run's start."`
	For  units.Duration `yaml:"for" doc:"How long it lasts."`
	Mode string         `yaml:"mode,omitempty" doc:"rst: the listening socket is closed, SYNs are answered with RST (connection refused); blackhole: SYNs are dropped silently and the client retries them until its connect timeout." default:"rst"`
}

// RefusalModes are the accepted refusal modes.
var RefusalModes = []string{"rst", "blackhole"}

// ResetSlowClient resets a client whose unsent backlog (the application's
// queue plus the socket's unsent bytes) stays above BacklogAbove for For.
type ResetSlowClient struct {
	BacklogAbove units.Size     `yaml:"backlog_above" doc:"Unsent bytes above which the clock starts."`
	For          units.Duration `yaml:"for" doc:"How long the backlog must stay above before the reset."`
}

// Phase is one step of a sender's schedule. Exactly one of Rate, Pause,
// Replay, Off and Ramp is set. Messages are produced by the application at the current
// rate all the time; what is produced and not yet sent waits in the
// application's backlog, and each message carries the time it was produced,
// so lag counts the wait.
type Phase struct {
	Rate   *units.FlowRate `yaml:"rate,omitempty" doc:"Produce and send at this rate: 5mbit, 2MB/s, 2000/s (messages), or max (bulk)."`
	For    *units.Duration `yaml:"for,omitempty" doc:"How long the rate phase lasts (not for the last phase)."`
	Pause  *units.Duration `yaml:"pause,omitempty" doc:"Send nothing for this long; messages keep being produced at the last rate and wait (a vendor's maintenance window)."`
	Replay *units.FlowRate `yaml:"replay,omitempty" doc:"Send the backlog at this rate (max: as fast as the socket takes) while production goes on, then go to the next phase."`
	Off    *units.Duration `yaml:"off,omitempty" doc:"Produce and send nothing for this long (the off time of an on/off source)."`
	Ramp   *Ramp           `yaml:"ramp,omitempty" doc:"Move the rate linearly from one rate to another over a time."`
	Burst  *Burst          `yaml:"burst,omitempty" doc:"Produce and send size bytes at once every interval (a sender that writes in bursts); with for like a rate phase."`
}

// Burst is a sender that writes size bytes at once every interval.
type Burst struct {
	Size  units.Size     `yaml:"size" doc:"Bytes of one burst (whole messages: at least one). 20B..64MiB."`
	Every units.Duration `yaml:"every" doc:"Time from one burst to the next. 1ms..1h."`
}

// Ramp is a linear change of the production rate.
type Ramp struct {
	From units.FlowRate `yaml:"from" doc:"Rate at the start (not max)."`
	To   units.FlowRate `yaml:"to" doc:"Rate at the end (not max); it stays after the ramp if no phase follows."`
	For  units.Duration `yaml:"for" doc:"Length of the ramp."`
}

// HTTPClient is the built-in HTTP/1.1 client: requests one after another
// on each of its workers, through one pooled transport.
type HTTPClient struct {
	Requests     int             `yaml:"requests,omitempty" doc:"Requests to make in all, then wait for the end of the run (0: until the end). 0..1000000." default:"0"`
	Concurrency  int             `yaml:"concurrency,omitempty" doc:"Workers making requests at once, each waiting for its response before the next. 1..1000." default:"1"`
	Interval     *units.Duration `yaml:"interval,omitempty" doc:"Time from one request's start to the next on each worker (0: back to back)." default:"0s"`
	Path         string          `yaml:"path,omitempty" doc:"Path of the URL asked for, on the listening side's address and port." default:"/"`
	RequestSize  units.Size      `yaml:"request_size,omitempty" doc:"Body of each request (a POST); 0 makes a GET. 0..64MiB." default:"0B"`
	ResponseSize *units.Size     `yaml:"response_size,omitempty" doc:"Response body asked of tcplab's http_server (the X-Tcplab-Response-Size header; another server ignores it). 0..1GiB." default:"the server's response_size"`
	KeepAlive    *bool           `yaml:"keep_alive,omitempty" doc:"true: ask to keep the connection (HTTP/1.1's default); false: send Connection: close, and the server closes each connection." default:"true"`
	MaxIdle      *int            `yaml:"max_idle,omitempty" doc:"Idle connections the pool keeps for the next request; 0: the client closes each connection after its response although it asked to keep it. 0..1000." default:"2"`
	MaxConns     int             `yaml:"max_conns,omitempty" doc:"Connections open at once at most (0: no limit). 0..1000." default:"0"`
	IdleTimeout  *units.Duration `yaml:"idle_timeout,omitempty" doc:"A pooled connection idle this long is closed by the client." default:"90s"`
	MaxAge       *units.Duration `yaml:"max_age,omitempty" doc:"A connection this old is closed by the client after its current response (0: no limit)." default:"0s"`
	ReadRate     *units.Rate     `yaml:"read_rate,omitempty" doc:"Read response bodies at this rate (a slow client); max: as fast as they come." default:"max"`
	Timeout      *units.Duration `yaml:"timeout,omitempty" doc:"A request not answered within this fails (it counts in requests.failed)." default:"30s"`
}

func (h *HTTPClient) applyDefaults() {
	if h.Concurrency == 0 {
		h.Concurrency = 1
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.KeepAlive == nil {
		h.KeepAlive = ptr(true)
	}
	if h.MaxIdle == nil {
		h.MaxIdle = ptr(2)
	}
	if h.IdleTimeout == nil {
		h.IdleTimeout = ptr(units.Duration(90 * time.Second))
	}
	if h.Timeout == nil {
		h.Timeout = ptr(units.Duration(30 * time.Second))
	}
}

// HTTPServer is the built-in HTTP/1.1 server.
type HTTPServer struct {
	ResponseSize *units.Size     `yaml:"response_size,omitempty" doc:"Body of each response, unless the request asks for another size. 0..1GiB." default:"1KiB"`
	ResponseTime *units.Duration `yaml:"response_time,omitempty" doc:"Time from a request's arrival to its response (the server thinking)." default:"0s"`
	IdleTimeout  *units.Duration `yaml:"idle_timeout,omitempty" doc:"A connection idle this long between requests is closed by the server (0: never)." default:"0s"`
	MaxRequests  int             `yaml:"max_requests,omitempty" doc:"Requests served on one connection, the last with Connection: close (0: no limit). 0..1000000." default:"0"`
	Close        bool            `yaml:"close,omitempty" doc:"Answer every request with Connection: close: the server closes each connection after one response." default:"false"`
	WriteRate    *units.Rate     `yaml:"write_rate,omitempty" doc:"Write response bodies at this rate; max: as fast as the socket takes." default:"max"`
	ReadRate     *units.Rate     `yaml:"read_rate,omitempty" doc:"Read request bodies at this rate (a slow server); max: as fast as they come." default:"max"`
}

// Exec is a user's program run as a peer inside a lab namespace. Only
// commands written in the scenario ever run. It is told the lab through
// environment variables (ExecVars: TCPLAB_SENDER_ADDR, TCPLAB_RECEIVER_ADDR,
// TCPLAB_PORT, TCPLAB_DURATION, TCPLAB_ROLE, TCPLAB_RUN_DIR); ${NAME} of
// those names, and only those, is replaced in command, env and dir: every
// other byte, $HOME, $$ and "${args[@]}" included, reaches the program as
// written. A relative program path is taken from the directory tcplab runs
// in. Its stdout and stderr go to <role>.stdout and <role>.stderr in the run
// directory. At the end of the run it gets half a second to end by itself,
// then SIGTERM, and SIGKILL two seconds
// later. A program that exits before the run's end fails the run, unless
// exits: expected says it ends by itself; a non-zero status always fails.
type Exec struct {
	Command []string          `yaml:"command" doc:"Program and arguments; ${TCPLAB_…} variables (and no others) are replaced, everything else reaches the program byte for byte."`
	Env     map[string]string `yaml:"env,omitempty" doc:"Extra environment variables (${TCPLAB_…} replaced in the values)."`
	Dir     string            `yaml:"dir,omitempty" doc:"Working directory." default:"the run directory"`
	Exits   string            `yaml:"exits,omitempty" doc:"at_end: the program runs until tcplab stops it at the end of the run, and exiting sooner fails the run. expected: it ends by itself (a client that makes its requests and exits); status 0 is then fine, non-zero still fails the run." default:"at_end"`

	// commandAt is where command was written (for errors found after parsing).
	commandAt Pos
}

// Exec.Exits values.
const (
	ExitsAtEnd    = "at_end"
	ExitsExpected = "expected"
)

// ExitsValues are the accepted exec.exits values.
var ExitsValues = []string{ExitsAtEnd, ExitsExpected}

// Message describes the framed messages the sender writes.
type Message struct {
	Size         units.Size `yaml:"size,omitempty" doc:"Bytes per message, header (20 B: length, sequence, send time) included; the mean with a distribution. 20B..1MiB." default:"1KiB"`
	Distribution string     `yaml:"distribution,omitempty" doc:"Message sizes: fixed, uniform (20 B..2×size) or exponential (mean size), clipped to max. Sizes follow the sequence number and the seed, so a resent message has its size." default:"fixed"`
	Max          units.Size `yaml:"max,omitempty" doc:"Largest message with a distribution. size..16MiB." default:"16 × size, at most 16MiB"`
}

// SizeDistributions are the accepted message size distributions.
var SizeDistributions = []string{"fixed", "uniform", "exponential"}

// Receiver is the built-in receiver.
type Receiver struct {
	Listen *bool           `yaml:"listen,omitempty" doc:"true: the receiver listens and the sender connects; false: the sender listens (as sender.listen: true)." default:"true unless sender.listen: true"`
	Port   int             `yaml:"port,omitempty" doc:"TCP port the receiver listens on, when it listens (for exec peers: the port whose sockets are sampled). 1..65535." default:"5001 when the receiver listens"`
	Read   Read            `yaml:"read,omitempty" doc:"How the application reads."`
	Stalls []Stall         `yaml:"stalls,omitempty" doc:"Windows in which the application stops reading."`
	Vanish *units.Duration `yaml:"vanish,omitempty" doc:"At this time the receiver vanishes: it stops reading and its side of the link goes dark (no FIN, no RST), as a mobile client that loses coverage. The report gives each side's detection time."`
	Socket Socket          `yaml:"socket,omitempty" doc:"Socket options of the receiver's socket."`
	Exec   *Exec           `yaml:"exec,omitempty" doc:"Run this command in the receiver's namespace instead of the built-in receiver."`
	HTTP   *HTTPServer     `yaml:"http_server,omitempty" doc:"Instead of the reader, an HTTP server on Go's net/http answering the sender's http_client or program."`
	// Clients and the rest need the receiver to connect (sender.listen).
	Clients    int              `yaml:"clients,omitempty" doc:"Client connections open at once, each served from its own queue at the sender (fan-out) and sampled on both ends. Needs sender.listen. 1..5000, and at most 10,000 sockets sampled a second: clients / sample_interval ≤ 10,000 (1,000 clients need sample_interval ≥ 100ms, 5,000 ≥ 500ms)." default:"1"`
	Overrides  []ClientOverride `yaml:"client_overrides,omitempty" doc:"A different read pattern for some clients (one slow client among fast ones)."`
	CloseAt    *units.Duration  `yaml:"close_at,omitempty" doc:"The client closes its connection itself (FIN) at this time; with reconnect it then connects again."`
	CloseEvery *units.Duration  `yaml:"close_every,omitempty" doc:"Each client closes each of its connections (FIN) this long after it opened and connects again (needs reconnect): connection churn, like a client that opens a connection per request."`
	Reconnect  *Reconnect       `yaml:"reconnect,omitempty" doc:"Connect again after a connection ends (reset, EOF, timeout, close_at), with exponential backoff and jitter, while the run lasts. Needs sender.listen."`
}

// ClientOverride changes some clients' read pattern.
type ClientOverride struct {
	Clients []int           `yaml:"clients" doc:"Client indexes (from 0) this applies to."`
	Read    *Read           `yaml:"read,omitempty" doc:"Their read pattern (rate only; size stays)."`
	Stalls  []Stall         `yaml:"stalls,omitempty" doc:"Their stall windows instead of receiver.stalls."`
	CloseAt *units.Duration `yaml:"close_at,omitempty" doc:"Their close_at instead of receiver.close_at."`
}

// Reconnect is a client's reconnect policy.
type Reconnect struct {
	Initial        units.Duration `yaml:"initial,omitempty" doc:"Wait before the first attempt; doubled after each failed attempt." default:"1s"`
	Max            units.Duration `yaml:"max,omitempty" doc:"Longest wait between attempts." default:"30s"`
	Jitter         *units.Percent `yaml:"jitter,omitempty" doc:"Each wait varied by up to ± this share." default:"20%"`
	Resume         bool           `yaml:"resume,omitempty" doc:"Ask the sender to resume from the first message not yet received (backfill, if sender.resume); false starts at the live end." default:"false"`
	ConnectTimeout units.Duration `yaml:"connect_timeout,omitempty" doc:"Give up one connect attempt after this long (a blackholed SYN)." default:"3s"`
}

// Read is the receiving application's read pattern.
type Read struct {
	Rate     *units.Rate `yaml:"rate,omitempty" doc:"Read rate: max (read as fast as data comes) or a rate like 2MB/s." default:"max"`
	Size     units.Size  `yaml:"size,omitempty" doc:"Bytes asked per read() call. 1B..16MiB." default:"64KiB"`
	Schedule []ReadPhase `yaml:"schedule,omitempty" doc:"Read rate phases instead of one rate, in order from the run's start: a reader whose rate changes during the run. Each phase but the last needs for; the last lasts to the end. receiver.read only (not in client_overrides)."`
}

// ReadPhase is one phase of a read schedule.
type ReadPhase struct {
	Rate *units.Rate     `yaml:"rate" doc:"Read rate during the phase: max or a rate like 200KB/s (at least 1KB/s)."`
	For  *units.Duration `yaml:"for,omitempty" doc:"How long the phase lasts. Needed on every phase but the last."`
}

// Stall is a window in which the receiving application does not read.
type Stall struct {
	At  units.Duration `yaml:"at" doc:"When the stall starts, from the run's start."`
	For units.Duration `yaml:"for" doc:"How long the application does not read."`
}

// Socket holds socket options. Unset fields keep the kernel's defaults.
type Socket struct {
	Sndbuf        units.Size      `yaml:"sndbuf,omitempty" doc:"SO_SNDBUF to ask for (the kernel doubles it; the effective value is recorded). Unset: autotuning."`
	Rcvbuf        units.Size      `yaml:"rcvbuf,omitempty" doc:"SO_RCVBUF to ask for (the kernel doubles it). Unset: autotuning."`
	NoDelay       *bool           `yaml:"nodelay,omitempty" doc:"TCP_NODELAY: true disables Nagle's algorithm (the effective value is recorded)." default:"true (Go's default)"`
	Congestion    string          `yaml:"congestion,omitempty" doc:"Congestion control: one of the names in CongestionAlgorithms, available in the kernel (see tcplab doctor). Unset: the kernel's default."`
	Keepalive     *Keepalive      `yaml:"keepalive,omitempty" doc:"TCP keepalive: probes after idle without traffic, every interval, count times, then the connection fails with ETIMEDOUT. Unset: keepalive off (the kernel's default; not Go's 15 s)."`
	UserTimeout   *units.Duration `yaml:"user_timeout,omitempty" doc:"TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the connection fails, counted from the first RTO retransmission (Linux 6.x). 1ms..1h."`
	NotsentLowat  units.Size      `yaml:"notsent_lowat,omitempty" doc:"TCP_NOTSENT_LOWAT: unsent bytes above which the socket stops accepting writes."`
	Linger        *units.Duration `yaml:"linger,omitempty" doc:"SO_LINGER on with this time; 0s makes close() send an RST. Whole seconds."`
	MaxPacingRate *units.Rate     `yaml:"max_pacing_rate,omitempty" doc:"SO_MAX_PACING_RATE: the most the socket sends per second, paced by the kernel (TCP paces itself, no fq needed). A rate like 20mbit, 8kbit..32gbit. Unset: no cap."`
}

// Keepalive is TCP keepalive (the kernel keeps whole seconds).
type Keepalive struct {
	Idle     units.Duration `yaml:"idle" doc:"Time without traffic before the first probe. 1s..2h."`
	Interval units.Duration `yaml:"interval" doc:"Time between probes. 1s..1h."`
	Count    int            `yaml:"count" doc:"Unanswered probes before the connection fails. 1..127."`
}

// CongestionAlgorithms are the congestion-control names tcplab accepts; the
// run checks that the kernel has the one chosen.
var CongestionAlgorithms = []string{"cubic", "bbr", "reno", "dctcp", "htcp", "vegas", "westwood", "bic", "hybla", "illinois", "scalable", "veno", "yeah", "lp", "nv", "cdg", "highspeed"}

// MaxClients bounds receiver.clients.
const MaxClients = 5000

// MaxSocketSamplesPerSecond bounds receiver.clients / sample_interval: the
// sockets each end's sampler reads a second. Up to it the samplers kept 99%
// of their ticks on a 2-core host with the peers saturating it (5,000
// clients at 500ms, 2,000 at 250ms, 1,000 at 100ms: 100%); at 20,000 a
// second they kept 96%, at 40,000 92%, at 200,000 56%, and the samples
// alone were 300 MB a second.
const MaxSocketSamplesPerSecond = 10000

// Defaults of the format, in one place.
const (
	DefaultDuration       = units.Duration(10 * time.Second)
	DefaultSampleInterval = units.Duration(10 * time.Millisecond)
	DefaultWindow         = units.Duration(250 * time.Millisecond)
	DefaultPort           = 5001
	DefaultMessageSize    = units.Size(1024)
	DefaultReadSize       = units.Size(64 << 10)
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
	if s.Link.NAT != nil && s.Link.NAT.Expired == "" {
		s.Link.NAT.Expired = "drop"
	}
	if h := s.Sender.HTTP; h != nil {
		h.applyDefaults()
	}
	if h := s.Receiver.HTTP; h != nil && h.ResponseSize == nil {
		h.ResponseSize = ptr(units.Size(1024))
	}
	// One side listens: the receiver, unless either field says otherwise.
	switch sl, rl := s.Sender.Listen, s.Receiver.Listen; {
	case sl == nil && rl == nil:
		s.Sender.Listen, s.Receiver.Listen = ptr(false), ptr(true)
	case sl == nil:
		s.Sender.Listen = ptr(!*rl)
	case rl == nil:
		s.Receiver.Listen = ptr(!*sl)
	}
	if *s.Sender.Listen && s.Sender.Port == 0 {
		s.Sender.Port = DefaultPort
	}
	if *s.Receiver.Listen && s.Receiver.Port == 0 {
		s.Receiver.Port = DefaultPort
	}
	if s.Sender.Rate == nil && len(s.Sender.Schedule) == 0 {
		s.Sender.Rate = new(units.Rate)
	}
	if s.Sender.Message.Size == 0 {
		s.Sender.Message.Size = DefaultMessageSize
	}
	if s.Receiver.Read.Rate == nil {
		s.Receiver.Read.Rate = new(units.Rate)
	}
	if s.Receiver.Read.Size == 0 {
		s.Receiver.Read.Size = DefaultReadSize
	}
	if s.Link.Backend == "" {
		s.Link.Backend = "auto"
	}
	if s.Receiver.Clients == 0 {
		s.Receiver.Clients = 1
	}
	if s.Sender.Message.Distribution == "" {
		s.Sender.Message.Distribution = "fixed"
	}
	if s.Sender.Message.Max == 0 && s.Sender.Message.Distribution != "fixed" {
		s.Sender.Message.Max = min(16*s.Sender.Message.Size, 16<<20)
	}
	if p := s.Sender.Policy; p != nil {
		for i := range p.Refuse {
			if p.Refuse[i].Mode == "" {
				p.Refuse[i].Mode = "rst"
			}
		}
	}
	for _, e := range []*Exec{s.Sender.Exec, s.Receiver.Exec} {
		if e != nil && e.Exits == "" {
			e.Exits = ExitsAtEnd
		}
	}
	if r := s.Receiver.Reconnect; r != nil {
		if r.Initial == 0 {
			r.Initial = units.Duration(time.Second)
		}
		if r.Max == 0 {
			r.Max = max(units.Duration(30*time.Second), r.Initial)
		}
		if r.Jitter == nil {
			j := units.Percent(20)
			r.Jitter = &j
		}
		if r.ConnectTimeout == 0 {
			r.ConnectTimeout = units.Duration(3 * time.Second)
		}
	}
}

// DownRate is the sender → receiver rate limit (0: none).
func (l Link) DownRate() units.Rate { return rateOf(l.Resolve(impair.Down)) }

// UpRate is the receiver → sender rate limit (0: none).
func (l Link) UpRate() units.Rate { return rateOf(l.Resolve(impair.Up)) }

func rateOf(d Direction) units.Rate {
	if d.Rate == nil {
		return 0
	}
	return *d.Rate
}

// Expect is one expectation as the file writes it: SUBJECT OP VALUE (the
// grammar and the subjects are report's: report.ParseExpect reads and
// judges them, lab.Check refuses a bad one before a run).
type Expect struct {
	Source string
	at     Pos
}

// Pos is where the expectation is written.
func (e Expect) Pos() Pos { return e.at }

// MinMessageSize is the smallest message the built-in peers send: their
// 20-byte header (length, sequence, send time). A test in lab holds it
// equal to peers.MinMessageSize.
const MinMessageSize = 20
