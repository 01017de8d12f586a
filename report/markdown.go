package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/tcplab/tcplab/record"
)

// WriteMarkdown writes summary.md: the verdict, the expectations, the
// accounting and the connections, fit for $GITHUB_STEP_SUMMARY.
func WriteMarkdown(w io.Writer, s *Summary) error {
	var b strings.Builder
	m := &s.Meta
	status := "✅ passed"
	if !s.Passed() {
		status = "❌ failed"
	}
	if len(s.Expectations) == 0 && s.Meta.EndKind() == record.EndCompleted {
		status = "no expectations"
	}
	if end := s.Meta.EndKind(); end != record.EndCompleted {
		status = "❌ did not complete (" + string(end) + ")"
	}
	if t := s.Trust; t != nil && t.Level == TrustDistorted {
		status = "❌ distorted by the lab"
	}
	fmt.Fprintf(&b, "## %s — %s\n\n", mdEscape(m.Title()), status)
	if t := s.Trust; t != nil && t.Level != TrustOK {
		fmt.Fprintf(&b, "> ⚠️ **trust: %s**", t.Level)
		for _, r := range t.Reasons {
			fmt.Fprintf(&b, " · %s", mdEscape(r.Text))
		}
		fmt.Fprintf(&b, " — advice: %s\n\n", mdEscape(t.Reasons[len(t.Reasons)-1].Advice))
	}
	verdict := s.Verdict.Text(" — ")
	fmt.Fprintf(&b, "**Verdict: %s** · run `%s` %s · %.0f s · backend %s · kernel %s\n\n",
		mdEscape(verdict), mdEscape(m.RunID), mdEscape(m.StoppedText()), m.DurationS, linkBackend(m), mdEscape(m.Kernel))
	for _, f := range m.PeerFailures {
		fmt.Fprintf(&b, "**%s**\n\n", mdEscape(f.String()))
		if len(f.StderrTail) > 0 {
			fmt.Fprintf(&b, "~~~\n%s\n~~~\n\n", strings.ReplaceAll(strings.Join(f.StderrTail, "\n"), "~~~", "~ ~ ~"))
		}
	}
	for _, e := range s.Verdict.Evidence {
		fmt.Fprintf(&b, "- %s\n", mdEscape(e))
	}
	if len(s.Expectations) > 0 {
		b.WriteString("\n| | expectation | actual |\n|---|---|---|\n")
		for _, e := range s.Expectations {
			mark := "✅"
			if !e.Holds {
				mark = "❌"
			}
			if e.Untrusted {
				mark += " (untrusted)"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", mark, mdCode(e.Expect), mdEscape(e.Actual))
		}
	}
	sh := &s.Shares
	fmt.Fprintf(&b, "\n| sending socket's time | share |\n|---|---:|\n| sender-limited (application idle) | %.1f%% |\n| sender-limited (send buffer) | %.1f%% |\n| receiver-limited | %.1f%% |\n| network-limited | %.1f%% |\n",
		100*sh.Idle, 100*sh.Sndbuf, 100*sh.Rwnd, 100*sh.Network)
	a := &s.Messages
	fmt.Fprintf(&b, "\n| messages | sent | delivered | lost | duplicated | dropped | undelivered | connections | reconnects | resets | lag p50 | lag p99 | lag max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.1f ms | %.1f ms | %.1f ms |\n",
		a.Sent, a.Delivered, a.Lost, a.Duplicated, a.Dropped, a.Undelivered, a.Connections, a.Reconnects, a.Resets, a.LagP50Ms, a.LagP99Ms, a.LagMaxMs)
	if len(s.Connections) > 1 {
		b.WriteString("\n| conn | client | verdict | sent | delivered | lost | ended |\n|---:|---:|---|---:|---:|---:|---|\n")
		for i, c := range s.Connections {
			if i == 20 {
				fmt.Fprintf(&b, "| … | | %d more in report.json | | | | |\n", len(s.Connections)-20)
				break
			}
			sent, got, lost := connCounts(&c)
			fmt.Fprintf(&b, "| %d | %d | %s | %d | %d | %d | %s |\n", c.Conn, c.Client, c.Verdict, sent, got, lost, mdEscape(connEnd(&c)))
		}
	}
	httpMarkdown(&b, s)
	writeWireMarkdown(&b, s)
	if len(s.Disconnects) > 0 {
		b.WriteString("\n| disconnect | conn | noticed by | error | closed first |\n|---:|---:|---|---|---|\n")
		for _, d := range s.Disconnects {
			fmt.Fprintf(&b, "| %.3f s | %d | %s | %s | %s |\n", d.T, d.Conn, d.Side, mdEscape(d.Error), d.ClosedFirst)
		}
	}
	for _, c := range s.SelfCheck {
		if !c.OK {
			fmt.Fprintf(&b, "\n> ⚠️ link self-check: %s configured %s, measured %s %s\n", mdEscape(c.What), mdEscape(c.Configured), mdEscape(c.Measured), mdEscape(c.Note))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func linkBackend(m *record.Meta) string {
	if m.Watch != nil {
		return "none (a live host, watched)"
	}
	if m.Link == nil {
		return "unknown"
	}
	return m.Link.Made()
}

// mdEscape keeps a value from breaking a Markdown table or opening an
// HTML tag.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;").Replace(s)
}

// mdCode keeps a value inside a code span in a table cell (entities are
// not decoded there, so only the pipe is escaped).
func mdCode(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func connCounts(c *Connection) (sent, got, lost uint64) {
	if c.Sender != nil {
		sent = c.Sender.Messages
	}
	if c.Receiver != nil {
		got, lost = c.Receiver.Messages, c.Receiver.Lost
	}
	return
}

func connEnd(c *Connection) string {
	switch {
	case c.Reset:
		return "reset by policy"
	case c.SenderClosed != "" || c.ReceiverClosed != "":
		return strings.TrimSpace(c.SenderClosed + " " + c.ReceiverClosed)
	}
	return "open to the end"
}

// JUnit XML, as CI systems read it: a suite per scenario, a test case per
// expectation (a run without expectations has one case: it completed).
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Tests   int          `xml:"tests,attr"`
	Fail    int          `xml:"failures,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	Tests int         `xml:"tests,attr"`
	Fail  int         `xml:"failures,attr"`
	Time  string      `xml:"time,attr"`
	Props []junitProp `xml:"properties>property"`
	Cases []junitCase `xml:"testcase"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Class   string        `xml:"classname,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes junit.xml: the run as a test suite.
func WriteJUnit(w io.Writer, s *Summary) error {
	out := junitSuites{}
	{
		st := junitSuite{Name: s.Meta.Scenario, Time: fmt.Sprintf("%.3f", s.Meta.DurationS),
			Props: []junitProp{{"run_id", s.Meta.RunID}, {"verdict", string(s.Verdict.Class)}, {"stopped", s.Meta.StoppedText()}}}
		add := func(name string, ok bool, msg string) {
			c := junitCase{Name: name, Class: "tcplab." + s.Meta.Scenario}
			if !ok {
				c.Failure = &junitFailure{Message: msg, Text: msg}
				st.Fail++
			}
			st.Cases = append(st.Cases, c)
			st.Tests++
		}
		if len(s.Expectations) == 0 {
			add("run completes", s.Meta.EndKind() == record.EndCompleted, "run stopped: "+s.Meta.StoppedText())
		}
		if t := s.Trust; t != nil && t.Level == TrustDistorted {
			add("the lab kept the path (trust)", false, trustText(t, &s.Meta))
		}
		for _, e := range s.Expectations {
			msg := fmt.Sprintf("expected %s, actual %s", e.Expect, e.Actual)
			if e.Untrusted {
				msg = "untrusted (the lab distorted the run): " + msg
			}
			add(e.Expect, e.Holds && !e.Untrusted, msg)
		}
		out.Tests += st.Tests
		out.Fail += st.Fail
		out.Suites = append(out.Suites, st)
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, b)
	return err
}
