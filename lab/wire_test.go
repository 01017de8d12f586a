package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
)

// TestShippedHTTPScenarios runs the third seed's three scenarios as
// written: each expectation on the wire's lifecycle holds, and the text
// report carries the lifecycle table.
func TestShippedHTTPScenarios(t *testing.T) {
	for _, name := range []string{"http-churn", "http-keepalive-not-reused", "http-keepalive-reused"} {
		t.Run(name, func(t *testing.T) {
			timerBound(t)
			s := loadShipped(t, name)
			res, dir := runScenario(t, s, RunOptions{})
			for _, e := range res.Summary.Expectations {
				if !e.Holds {
					t.Errorf("expectation failed: %s (actual %s)", e.Expect, e.Actual)
				}
			}
			if len(res.Summary.Expectations) != len(s.Expect) || len(s.Expect) < 4 {
				t.Errorf("%d expectations evaluated of %d", len(res.Summary.Expectations), len(s.Expect))
			}
			txt, _ := os.ReadFile(filepath.Join(dir, record.FileText))
			if !strings.Contains(string(txt), "connections on the wire:") {
				t.Errorf("report.txt has no lifecycle table")
			}
			// The HTTP peers do not sample themselves: tcplab's sock_diag
			// samplers did, and account for their clocks.
			if h := res.Summary.Meta.Host; h == nil || len(h.Samplers) != 2 || h.Samplers[0].Ticks < 10 || !strings.Contains(string(txt), "(tcplab's sock_diag) ") {
				t.Errorf("tcplab's samplers' clocks: %+v", h)
			}
			assertLabGone(t, res.Summary.Meta.RunID)
		})
	}
}

// TestWireAgreesWithPeers: the built-in peers' own account of their
// connections and the wire's agree — as many connections, the receiver's
// side connecting each, each closed by the client (close_every) until the
// end, and the handshake one round trip (20 ms) both ways.
func TestWireAgreesWithPeers(t *testing.T) {
	timerBound(t)
	src := `name: agree
duration: 2500ms
link: { both: { delay: 10ms } }
sender: { listen: true, rate: 2mbit }
receiver:
  close_every: 400ms
  reconnect: { initial: 10ms }
`
	res, _ := runSrc(t, "agree", src, RunOptions{})
	sum := &res.Summary
	w := sum.Wire
	if w == nil || w.Connections < 4 || w.Connections != sum.Messages.Connections {
		t.Fatalf("wire %+v, peers %d connections; want the same count, at least 4", w, sum.Messages.Connections)
	}
	// A handshake is one round trip, plus what the link itself measured
	// releasing a packet late (a descheduled link: a CI-like run here
	// once saw 37.30 ms on the wire and 37.59 ms at the client alike).
	slowest := 30.0
	if l := sum.Meta.Link; l != nil && l.Down.Counters != nil && l.Up.Counters != nil {
		slowest = max(slowest, 22+l.Down.Counters.LatenessMax+l.Up.Counters.LatenessMax)
	}
	// Connection i on the wire is the peers' connection i (both in the
	// order opened); each end's own connect time and the wire's handshake
	// see the same link, lateness included, so they agree closely, and
	// both sit near the 20 ms round trip.
	for i, c := range w.List {
		if c.OpenedS > 2.3 {
			continue // a reconnect the run's end cut short
		}
		var peers float64
		if i < len(sum.Connections) && sum.Connections[i].Lifecycle != nil {
			peers = sum.Connections[i].Lifecycle.HandshakeMs
		}
		if c.ClientSide != record.RoleReceiver || c.HandshakeMs == nil {
			t.Errorf("conn %d: client side %s, handshake %v; want the receiver's side and a handshake", c.Conn, c.ClientSide, c.HandshakeMs)
			continue
		}
		// The client's own connect also holds its process's wait for a CPU
		// (a CI run on the loaded host: 23.22 ms against the wire's 20.55):
		// it may come later than the wire's by up to 5 ms, never earlier
		// by more than 10%. When the run itself measured the host short of
		// CPU (tasks waiting most of the run, a CI run: 26.18 ms against
		// 20.38 for the process's first connect), up to 15 ms later.
		late := max(5, 0.1*peers)
		if h := sum.Meta.Host; h != nil && h.CPUPressure > 0.5 {
			late = 15
		}
		if hs := *c.HandshakeMs; peers-hs < -max(1, 0.1*peers) || peers-hs > late || hs < 19 || hs > slowest {
			t.Errorf("conn %d: the wire's handshake %.2f ms, the client's own connect %.2f ms; want the client's no earlier than 10%% before the wire's, no later than %.0f ms after, and the wire's between 19 and %.1f ms", c.Conn, hs, peers, late, slowest)
		}
		if c.Close != nil && c.Close.AtS < 2.3 && c.Close.By != record.EndClient {
			t.Errorf("conn %d closed by the %s at %.2f s, want the client (close_every)", c.Conn, c.Close.By, c.Close.AtS)
		}
	}
}

// TestHTTPDirectionVerdicts: large HTTP responses flow from the receiver's
// side (the server); the server's socket is the one classified —
// network-limited behind a 20 Mbit/s link, receiver-limited when the
// client reads 4 Mbit/s — and the report says which side sent.
func TestHTTPDirectionVerdicts(t *testing.T) {
	for _, c := range []struct {
		name, read string
		want       report.Class
	}{
		{"network", "", report.NetworkLimited},
		{"slow-client", ", read_rate: 4mbit", report.ReceiverLimited},
	} {
		t.Run(c.name, func(t *testing.T) {
			timerBound(t)
			src := fmt.Sprintf(`name: http-%s
duration: 3s
link:
  both: { delay: 5ms }
  up: { rate: 20mbit }
sender:
  http_client: { response_size: 64MiB, timeout: 10s%s }
receiver:
  http_server: {}
`, c.name, c.read)
			res, _ := runSrc(t, "http-"+c.name, src, RunOptions{})
			sum := &res.Summary
			if sum.Verdict.Class != c.want {
				t.Errorf("verdict %s, want %s", sum.Verdict.Class, c.want)
			}
			var turned bool
			for _, conn := range sum.Connections {
				if conn.Conn == sum.VerdictConn {
					turned = conn.DataFrom == record.RoleReceiver
				}
			}
			if !turned || !strings.Contains(strings.Join(sum.Verdict.Evidence, "\n"), "receiver's side") {
				t.Errorf("the verdict's connection is not said to carry the receiver's data: %+v", sum.Verdict.Evidence)
			}
		})
	}
}

// TestHTTPBothDirections: requests as large as their responses — both
// directions carry data, and each connection's second direction is
// classified too, said to come from the sender's side.
func TestHTTPBothDirections(t *testing.T) {
	timerBound(t)
	src := `name: http-both
duration: 2s
link: { both: { delay: 5ms, rate: 50mbit } }
sender:
  http_client: { request_size: 2MiB, response_size: 4MiB }
receiver:
  http_server: {}
`
	res, _ := runSrc(t, "http-both", src, RunOptions{})
	var both int
	for _, c := range res.Summary.Connections {
		if r := c.Reverse; r != nil {
			both++
			if r.From != record.RoleSender || c.DataFrom != record.RoleReceiver || r.Bytes < 2<<20 || r.Verdict == "" {
				t.Errorf("conn %d: data from %q, reverse %+v; want the responses classified first, the requests (from the sender's side) second", c.Conn, c.DataFrom, r)
			}
		}
	}
	if both == 0 {
		t.Errorf("no connection classified both ways: %+v", res.Summary.Connections)
	}
}

// nginxConf is a minimal nginx configuration serving dir/www on port,
// everything it writes under dir.
func nginxConf(t *testing.T, port int, body int) (conf, prefix string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"www", "tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "body"), make([]byte, body), 0o644); err != nil {
		t.Fatal(err)
	}
	conf = filepath.Join(dir, "nginx.conf")
	src := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  keepalive_timeout 30s;
  keepalive_requests 1000;
  server { listen %[2]d; root %[1]s/www; }
}
`, dir, port)
	if err := os.WriteFile(conf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf, dir + "/"
}

func needPrograms(t *testing.T, names ...string) {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("needs %s (Debian: apt-get install nginx-light curl; .ci/run installs them): %v", n, err)
		}
	}
}

// curlCmd is curl fetching url n times in one run (one connection reused,
// as curl does), with extra arguments.
func curlCmd(url string, n int, extra ...string) string {
	args := append([]string{"curl", "-s", "--fail"}, extra...)
	for i := 0; i < n; i++ {
		args = append(args, "-o", "/dev/null", url)
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// TestRealHTTPServerAndClient: Debian's nginx in the receiver's namespace
// and curl in the sender's, 20 requests each way, over a 20 ms round trip.
// Keep-alive: one connection reused for every request, closed by the
// client; Connection: close: one connection per request, each closed by
// the server; handshakes within 10% of the round trip (the median: a busy
// machine's userspace link adds its lateness to a few) — asserted by the
// scenario's own expectations.
func TestRealHTTPServerAndClient(t *testing.T) {
	labtest.RequireRoot(t)
	needPrograms(t, "nginx", "curl")
	conf, prefix := nginxConf(t, 5001, 20000)
	for _, c := range []struct {
		name   string
		extra  []string
		expect []string
	}{
		{"keep-alive", nil, []string{"connections == 1", "exchanges == 20", "connections.reused == 1", "connections.closed_by(client) == 1"}},
		{"connection-close", []string{"-H", "Connection: close"}, []string{"connections == 20", "exchanges == 20", "connections.reused == 0", "connections.closed_by(server) == 20"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := "http://${TCPLAB_RECEIVER_ADDR}:${TCPLAB_PORT}/body"
			src := fmt.Sprintf(`name: nginx-curl
duration: 3s
link: { both: { delay: 10ms } }
sender:
  exec: { command: %s, exits: expected }
receiver:
  exec: { command: [nginx, -c, %q, -p, %q, -e, stderr, -g, "daemon off; master_process off;"] }
expect:
  - handshake.p50 < 22ms
  - handshake.p50 > 18ms
  - handshake.max < 40ms
%s`, curlCmd(url, 20, c.extra...), conf, prefix, "  - "+strings.Join(c.expect, "\n  - ")+"\n")
			res, _ := runSrc(t, "nginx-curl", src, RunOptions{})
			for _, e := range res.Summary.Expectations {
				if !e.Holds {
					t.Errorf("expectation failed: %s (actual %s)", e.Expect, e.Actual)
				}
			}
			if !res.Summary.Pass {
				t.Errorf("the run did not pass: %s", res.Summary.Meta.StoppedText())
			}
		})
	}
}

// TestRealHTTPServerDirection: the same nginx sending a large body to curl
// over a 20 Mbit/s link: the server's socket (the receiver's side) is the
// one classified — network-limited; with curl reading 250 KB/s (over
// 100 Mbit/s), receiver-limited.
func TestRealHTTPServerDirection(t *testing.T) {
	labtest.RequireRoot(t)
	needPrograms(t, "nginx", "curl")
	conf, prefix := nginxConf(t, 5001, 16<<20)
	// The slow reader's link is fast (100 Mbit/s) so that its receive
	// buffer (up to 6 MB, autotuned) fills within the first second.
	for _, c := range []struct {
		name, rate string
		extra      []string
		want       report.Class
	}{
		{"network", "20mbit", nil, report.NetworkLimited},
		{"slow-curl", "100mbit", []string{"--limit-rate", "250K"}, report.ReceiverLimited},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := fmt.Sprintf(`name: nginx-%s
duration: 3s
link: { both: { delay: 5ms }, up: { rate: %s } }
sender:
  exec: { command: %s }
receiver:
  exec: { command: [nginx, -c, %q, -p, %q, -e, stderr, -g, "daemon off; master_process off;"] }
`, c.name, c.rate, curlCmd("http://${TCPLAB_RECEIVER_ADDR}:${TCPLAB_PORT}/body", 1, c.extra...), conf, prefix)
			t0 := time.Now()
			res, _ := runSrc(t, "nginx-"+c.name, src, RunOptions{})
			// Neither program ends by itself: both are stopped at the end
			// (curl's download would take 64 s; before the fix the second
			// program was waited for until it ended).
			if took := time.Since(t0); took > 15*time.Second {
				t.Errorf("the run took %v: the programs were not stopped at its end", took)
			}
			sum := &res.Summary
			if sum.Verdict.Class != c.want || len(sum.Connections) == 0 || sum.Connections[0].DataFrom != record.RoleReceiver {
				t.Errorf("verdict %s, connections %+v; want %s of the server's socket (data from the receiver's side)", sum.Verdict.Class, sum.Connections, c.want)
			}
		})
	}
}

// TestProgramListensOnSenderSide: a program that listens in the sender's
// namespace (sender.listen with sender.port) and one that connects from
// the receiver's: tcplab waits for the listener, samples the sockets on
// that port, and the wire shows the receiver's side connecting to it; the
// data (the server's body) flows from the sender's side, as the feed's.
func TestProgramListensOnSenderSide(t *testing.T) {
	labtest.RequireRoot(t)
	needPrograms(t, "nginx", "curl")
	conf, prefix := nginxConf(t, 8080, 8<<20)
	src := fmt.Sprintf(`name: listens-on-sender
duration: 3s
link: { both: { delay: 5ms }, down: { rate: 50mbit } }
sender:
  listen: true
  port: 8080
  exec: { command: [nginx, -c, %q, -p, %q, -e, stderr, -g, "daemon off; master_process off;"] }
receiver:
  exec: { command: %s, exits: expected }
expect:
  - connections == 1
  - requests.failed == 0
`, conf, prefix, curlCmd("http://${TCPLAB_SENDER_ADDR}:${TCPLAB_PORT}/body", 1))
	res, _ := runSrc(t, "listens-on-sender", src, RunOptions{})
	sum := &res.Summary
	if w := sum.Wire; w == nil || len(w.List) != 1 || w.List[0].ClientSide != record.RoleReceiver || !strings.HasSuffix(w.List[0].Server, ":8080") || w.List[0].BytesServer < 8<<20 {
		t.Fatalf("wire %+v; want one connection from the receiver's side to port 8080 carrying the 8 MiB body", w)
	}
	if len(sum.Connections) != 1 || sum.Connections[0].DataFrom != "" || sum.Verdict.Class != report.NetworkLimited {
		t.Errorf("connections %+v, verdict %s; want one sampled connection, its data from the sender's side, network-limited behind 50 Mbit/s", sum.Connections, sum.Verdict.Class)
	}
	// requests.* are the built-in client's: with a program they are not
	// judged, and the expectation fails saying so.
	for _, e := range sum.Expectations {
		if e.Expect == "requests.failed == 0" && (e.Holds || !strings.Contains(e.Actual, "no built-in http_client")) {
			t.Errorf("requests.failed without a built-in http_client: %+v", e)
		}
	}
}

// TestWireOff: link.wire: false follows no connection — no
// connections.jsonl, no wire in the report — and an expectation on the
// wire says why it cannot be judged, while connections falls back to the
// built-in peers' own count.
func TestWireOff(t *testing.T) {
	timerBound(t)
	src := `name: wire-off
duration: 1s
link: { wire: false }
sender: { rate: 1mbit }
expect:
  - connections == 1
  - handshake.p50 < 1s
`
	res, dir := runSrc(t, "wire-off", src, RunOptions{})
	if _, err := os.Stat(filepath.Join(dir, record.FileConnections)); !os.IsNotExist(err) || res.Summary.Wire != nil {
		t.Errorf("connections.jsonl: %v, wire %+v; want neither", err, res.Summary.Wire)
	}
	e := res.Summary.Expectations
	if len(e) != 2 || !e[0].Holds || e[1].Holds || !strings.Contains(e[1].Actual, "link.wire: false") {
		t.Errorf("expectations %+v; want connections from the peers, the handshake unknown saying why", e)
	}
}

// TestHTTPPolicies: the HTTP peers' connection policies, as the wire sees
// them — the server's max_requests, close and idle_timeout, the client's
// max_age — each by its own scenario's expectations.
func TestHTTPPolicies(t *testing.T) {
	for _, c := range []struct{ name, client, server, expect string }{
		{"max-requests", "requests: 9, interval: 50ms", "max_requests: 3", "connections == 3\n  - connections.closed_by(server) == 3\n  - exchanges == 9"},
		{"close", "requests: 4, interval: 100ms", "close: true", "connections == 4\n  - connections.closed_by(server) == 4"},
		{"idle-timeout", "requests: 3, interval: 500ms", "idle_timeout: 200ms", "connections == 3\n  - connections.closed_by(server) == 3"},
		{"max-age", "requests: 6, interval: 200ms, max_age: 300ms", "{}", "connections >= 2\n  - connections.closed_by(client) >= 1\n  - requests.failed == 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			timerBound(t)
			server := c.server
			if server != "{}" {
				server = "{ " + server + " }"
			}
			src := fmt.Sprintf("name: http-%s\nduration: 2s\nlink: { both: { delay: 2ms } }\nsender:\n  http_client: { %s }\nreceiver:\n  http_server: %s\nexpect:\n  - %s\n", c.name, c.client, server, c.expect)
			res, _ := runSrc(t, "http-"+c.name, src, RunOptions{})
			for _, e := range res.Summary.Expectations {
				if !e.Holds {
					t.Errorf("expectation failed: %s (actual %s)", e.Expect, e.Actual)
				}
			}
		})
	}
}
