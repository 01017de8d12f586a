package scenario

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/scenarios"
)

// TestMalformed: each bad file gives file:line:col, the field path and what
// is accepted — and validation creates nothing.
func TestMalformed(t *testing.T) {
	cases := []struct {
		name, yaml string
		where      string // "line:col"
		want       []string
	}{
		{"unknown top-level field", "name: x\nduraton: 5s\n", "2:1", []string{"duraton", "unknown field", `did you mean "duration"`, "accepted here: description, duration"}},
		{"unknown nested field", "sender:\n  rat: 5mbit\n", "2:3", []string{"sender.rat", "accepted here: exec, http_client, listen, message, policy, port, rate, repeat, resume, schedule, socket"}},
		{"duration without unit", "duration: 5\n", "1:11", []string{"duration", "no unit"}},
		{"duration garbage", "duration: soon\n", "1:11", []string{"duration", "invalid duration", "ms, s"}},
		{"duration too long", "duration: 2h\n", "1:11", []string{"duration", "outside 1s..1h"}},
		{"rate unit unknown", "link:\n  down: { rate: 5 furlongs }\n", "2:17", []string{"link.down.rate", "50mbit", "2MB/s"}},
		{"byte rate without per-second", "receiver:\n  read: { rate: 2MB }\n", "2:17", []string{"receiver.read.rate", "unknown rate unit"}},
		{"size without unit", "sender:\n  socket: { sndbuf: 4096 }\n", "2:21", []string{"sender.socket.sndbuf", "no unit", "64KiB"}},
		{"size lowercase unit", "receiver:\n  read: { size: 16kib }\n", "2:17", []string{"receiver.read.size", "KiB"}},
		{"bool as text", "sender:\n  listen: yes please\n", "2:11", []string{"sender.listen", "true or false"}},
		{"port out of range", "receiver:\n  port: 70000\n", "2:9", []string{"receiver.port", "1..65535"}},
		{"port on the connecting side", "sender:\n  port: 6000\n", "2:9", []string{"sender.port", "the sender connects", "receiver.port"}},
		{"both sides listen", "sender: { listen: true }\nreceiver: { listen: true }\n", "2:21", []string{"receiver.listen", "exactly one side listens"}},
		{"http client listening", "sender:\n  listen: true\n  http_client: { requests: 3 }\nreceiver:\n  http_server: {}\n", "3:16", []string{"sender.http_client", "the receiver must listen"}},
		{"http client with a feed reader", "sender:\n  http_client: { requests: 3 }\n", "1:1", []string{"receiver", "speaks tcplab's feed", "http_server"}},
		{"http client with a rate", "sender:\n  rate: 5mbit\n  http_client: {}\nreceiver:\n  http_server: {}\n", "2:9", []string{"sender.rate", "no effect with sender.http_client"}},
		{"http concurrency", "sender:\n  http_client: { concurrency: 5000 }\nreceiver:\n  http_server: {}\n", "2:31", []string{"sender.http_client.concurrency", "1..1000"}},
		{"port not a number", "sender:\n  port: http\n", "2:9", []string{"sender.port", "whole number"}},
		{"unknown congestion", "sender:\n  socket: { congestion: cubik }\n", "2:25", []string{"sender.socket.congestion", "cubik", "accepted: cubic, bbr, reno"}},
		{"clients without listen", "receiver:\n  clients: 3\n", "2:12", []string{"receiver.clients", "sender.listen: true"}},
		{"clients beyond the sampling budget", "sender: { listen: true }\nreceiver:\n  clients: 2000\n", "3:12", []string{"receiver.clients", "2000 clients sampled every 10ms", "200000 socket samples a second", "up to 10000", "sample_interval: 200ms or more", "at most 100 clients"}},
		{"trace and rate", "link:\n  down: { rate: 5mbit, trace: x.down }\n", "2:31", []string{"link.down.trace", "a mahimahi trace and a rate at once", "remove link.down.rate"}},
		{"trace file missing", "link:\n  down: { trace: nope.down }\n", "2:18", []string{"link.down.trace", "nope.down", "no such file", "mahimahi"}},
		{"inline trace with a bad line", "link:\n  up:\n    trace: |\n      1\n      soon\n", "3:12", []string{"link.up.trace", "inline trace:2:", "whole milliseconds"}},
		{"override out of range", "sender: { listen: true }\nreceiver:\n  clients: 2\n  client_overrides: [ { clients: [2] } ]\n", "4:34", []string{"client_overrides[0].clients", "outside 0..1"}},
		{"refuse mode", "sender:\n  listen: true\n  policy: { refuse: [ { at: 1s, for: 1s, mode: drop } ] }\n", "3:48", []string{"refuse[0].mode", "accepted: rst, blackhole"}},
		{"size distribution", "sender:\n  message: { size: 1KiB, distribution: pareto }\n", "2:40", []string{"sender.message.distribution", "fixed, uniform, exponential"}},
		{"expect not a list", "expect: verdict == mixed\n", "1:9", []string{"expect", "expected a list"}},
		{"mapping expected", "link: 20mbit\n", "1:7", []string{"link", "expected a mapping", "backend, both, down, nat, seed, up"}},
		{"field twice", "name: a\nname: b\n", "2:1", []string{"name", "given twice"}},
		{"invalid yaml", "name: [unclosed\n", "", []string{"not valid YAML"}},
		{"unclosed brace", "name: x\nlink: {down: {rate: 1gbit}\nsender:\n  rate: 5mbit\n", "2:7", []string{"not valid YAML", "the '{' opened here is never closed"}},
		{"unclosed bracket", "name: x\nexpect: [ 'verdict == mixed'\n", "2:9", []string{"the '[' opened here is never closed"}},
		{"duration form", "duration: 5 sec\n", "1:11", []string{"duration", "write 150ms, 2s, 1m30s"}},
		{"sample interval over half the default window", "sample_interval: 200ms\n", "1:18", []string{"sample_interval", "at most 125ms, or set window"}},
		{"exits value", "receiver:\n  exec: { command: [./c], exits: sometimes }\n", "2:34", []string{"receiver.exec.exits", "at_end, expected"}},
		{"empty file", "", "1:1", []string{"empty scenario file"}},
		{"two documents", "name: a\n---\nname: b\n", "2:1", []string{"more than one YAML document"}},
		{"message too small", "sender:\n  message: { size: 8B }\n", "2:20", []string{"sender.message.size", "20B..1MiB"}},
		{"window below 100ms", "window: 50ms\n", "1:9", []string{"window", "100ms..duration"}},
		{"sample interval not below duration", "duration: 1s\nsample_interval: 1s\n", "2:18", []string{"sample_interval", "not below duration"}},
		{"bad name", "name: ../etc\n", "1:7", []string{"name", "not a valid name"}},
		{"null value", "sender:\n  rate:\n", "2:8", []string{"sender.rate", "empty value"}},
		{"link rate too high", "link:\n  both: { rate: 2000gbit }\n", "2:17", []string{"link.both.rate", "1000gbit"}},
		{"unknown backend", "link:\n  backend: tc\n", "2:12", []string{"link.backend", "auto, netem, userspace"}},
		{"loss and gilbert-elliott", "link:\n  down: { loss: 1%, gilbert_elliott: { p: 1%, r: 10% } }\n", "2:38", []string{"link.down.gilbert_elliott", "not both"}},
		{"reorder without delay", "link:\n  up: { reorder: { probability: 5% } }\n", "2:7", []string{"link.up", "reorder needs a delay"}},
		{"percent without sign", "link:\n  down: { loss: 0.5 }\n", "2:17", []string{"link.down.loss", "needs a % sign"}},
		{"close_every without reconnect", "sender: { listen: true }\nreceiver:\n  close_every: 1s\n", "3:16", []string{"receiver.close_every", "set receiver.reconnect"}},
		{"nat unknown expiry", "link:\n  nat: { idle_timeout: 5s, expired: reject }\n", "2:37", []string{"link.nat.expired", "drop, rst"}},
		{"nat timeout too short", "link:\n  nat: { idle_timeout: 500ms }\n", "2:24", []string{"link.nat.idle_timeout", "outside 1s..1h"}},
		{"nat with netem", "link:\n  backend: netem\n  nat: { idle_timeout: 5s }\n", "3:8", []string{"link.nat", "needs the userspace link"}},
		{"timeline past the end", "duration: 5s\ntimeline:\n  - { at: 6s, partition: both }\n", "3:11", []string{"timeline[0].at", "not before the end"}},
		{"timeline bad partition", "timeline:\n  - { at: 1s, partition: sideways }\n", "2:26", []string{"timeline[0].partition", "down, up, both, link-down"}},
		{"timeline two changes", "timeline:\n  - { at: 1s, partition: both, link: { down: { loss: 1% } } }\n", "2:5", []string{"timeline[0]", "exactly one of link, partition, reboot, freeze or kill"}},
		{"exec with built-in fields", "sender:\n  rate: 5mbit\n  exec: { command: [./client] }\n", "2:9", []string{"sender.rate", "no effect with sender.exec"}},
		{"exec without command", "receiver:\n  exec: { dir: /tmp }\n", "2:9", []string{"receiver.exec.command", "give the program"}},
		{"keepalive in milliseconds", "sender:\n  socket: { keepalive: { idle: 1500ms, interval: 1s, count: 3 } }\n", "2:32", []string{"sender.socket.keepalive.idle", "whole seconds"}},
		{"schedule and rate", "sender:\n  rate: 5mbit\n  schedule:\n    - { rate: 1000/s }\n", "2:9", []string{"sender.rate", "rate or schedule"}},
		{"phase with two kinds", "sender:\n  schedule:\n    - { rate: 1000/s, pause: 1s }\n", "3:7", []string{"sender.schedule[0]", "exactly one of rate, pause, replay, off, ramp or burst"}},
		{"rate phase without for", "sender:\n  schedule:\n    - { rate: 1000/s }\n    - { pause: 1s }\n", "3:7", []string{"sender.schedule[0].for", "needs for"}},
		{"message rate garbage", "sender:\n  schedule:\n    - { rate: lots/s }\n", "3:15", []string{"sender.schedule[0].rate", "2000/s"}},
		{"stall past the end", "duration: 2s\nreceiver:\n  stalls:\n    - { at: 3s, for: 1s }\n", "4:13", []string{"receiver.stalls[0].at", "not before the end"}},
		{"queue zero", "link:\n  down: { queue: 0 }\n", "2:18", []string{"link.down.queue", "drop everything"}},
		{"read rate and schedule", "receiver:\n  read: { rate: 1MB/s, schedule: [ { rate: max } ] }\n", "2:17", []string{"receiver.read.rate", "read.rate or read.schedule, not both"}},
		{"read phase without for", "receiver:\n  read:\n    schedule:\n      - { rate: 20KB/s }\n      - { rate: max }\n", "4:9", []string{"receiver.read.schedule[0].for", "only the last phase"}},
		{"read phase without rate", "receiver:\n  read:\n    schedule:\n      - { for: 1s }\n", "4:9", []string{"receiver.read.schedule[0].rate", "max or a rate"}},
		{"read schedule in an override", "sender: { listen: true }\nreceiver:\n  clients: 2\n  client_overrides: [ { clients: [1], read: { schedule: [ { rate: max } ] } } ]\n", "4:57", []string{"client_overrides[0].read.schedule", "an override sets read.rate"}},
	}
	before := labNamespaces(t)
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			os.WriteFile(file, []byte(c.yaml), 0o644)
			_, err := Load(file)
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			msg := err.Error()
			prefix := file + ":"
			if c.where != "" {
				prefix += c.where + ":"
			}
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error does not start with %q:\n%s", prefix, msg)
			}
			if ok, _ := regexp.MatchString(`^.+:\d+:\d+: `, msg); !ok {
				t.Errorf("no file:line:col in %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
	if after := labNamespaces(t); after != before {
		t.Errorf("validation changed the lab namespaces: before %q, after %q", before, after)
	}
}

func labNamespaces(t *testing.T) string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tcplab-") {
			out = append(out, e.Name())
		}
	}
	return strings.Join(out, ",")
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Parse("f.yaml", []byte("duraton: 5s\nsender:\n  port: x\n  rate: fast\n"))
	es, ok := err.(Errors)
	if !ok || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
}

func TestShippedScenariosValid(t *testing.T) {
	names := scenarios.Names()
	if len(names) < 4 {
		t.Fatalf("only %d shipped scenarios", len(names))
	}
	for _, n := range names {
		b, _ := scenarios.Read(n)
		sw, err := ParseSweep(n+".yaml", b)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		for _, p := range sw.Points {
			s := p.Scenario
			if want := n; len(sw.Keys) > 0 {
				want = n + "-" + p.ID
				if s.Name != want {
					t.Errorf("%s: point name %q, want %q", n, s.Name, want)
				}
			} else if s.Name != want {
				t.Errorf("%s: name %q differs from the file name", n, s.Name)
			}
			if len(s.Expect) == 0 {
				t.Errorf("%s: no expect: block", n)
			}
		}
	}
}

// TestResolvedScheduleLoads: the resolved form of a scheduled sender loads
// back (no rate default beside the schedule).
func TestResolvedScheduleLoads(t *testing.T) {
	s, err := Parse("sch.yaml", []byte("name: sch\nsender:\n  schedule: [ { rate: 10/s, for: 1s }, { off: 1s } ]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalYAMLResolved(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("sch-resolved.yaml", b); err != nil {
		t.Fatalf("resolved scenario does not load back: %v\n%s", err, b)
	}
}

func TestDefaultsAndResolvedRoundTrip(t *testing.T) {
	s, err := Parse("min.yaml", []byte("name: min\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != DefaultDuration || s.SampleInterval != DefaultSampleInterval || s.Window != DefaultWindow ||
		s.Receiver.Port != DefaultPort || s.ListenPort() != DefaultPort || s.SenderListens() || *s.Sender.Rate != 0 || s.Sender.Message.Size != DefaultMessageSize || s.Receiver.Read.Size != DefaultReadSize {
		t.Errorf("defaults not applied: %+v", s)
	}
	full := "name: full\nduration: 3s\nsample_interval: 5ms\nwindow: 500ms\nlink:\n  both: { rate: 100mbit }\n  down: { rate: 20mbit }\n" +
		"sender:\n  listen: true\n  port: 6000\n  rate: 5mbit\n  message: { size: 4KiB }\n  socket: { sndbuf: 64KiB, nodelay: false, congestion: cubic }\n" +
		"receiver:\n  read: { rate: 2MB/s, size: 16KiB }\n  socket: { rcvbuf: 128KiB }\nexpect:\n  - verdict == sender-limited\n"
	s, err = Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if s.Link.DownRate() != 20e6 || s.Link.UpRate() != 100e6 {
		t.Errorf("link rates down %v up %v", s.Link.DownRate(), s.Link.UpRate())
	}
	out, err := MarshalYAMLResolved(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse("resolved.yaml", out)
	if err != nil {
		t.Fatalf("resolved scenario does not load back: %v\n%s", err, out)
	}
	out2, _ := MarshalYAMLResolved(s2)
	if string(out) != string(out2) {
		t.Errorf("resolved scenario changes on a round trip:\n%s\n---\n%s", out, out2)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range scenarios.Names() {
		b, _ := scenarios.Read(n)
		f.Add(b)
	}
	f.Add([]byte("link: {down: {rate: 1gbit}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse("fuzz.yaml", b)
		ParseSweep("fuzz.yaml", b)
	})
}
