package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// oneEnd keeps one side's samples, as a watch of that end records them.
func oneEnd(ss []tcpinfo.Sample, side string) []tcpinfo.Sample {
	var out []tcpinfo.Sample
	for _, s := range ss {
		if s.Side == side {
			s.Side, s.Source = record.SideWatched, tcpinfo.SourceSockDiag
			out = append(out, s)
		}
	}
	return out
}

// TestOneEndOfRecordedRuns judges the runs recorded on kernel 6.18 from one
// end at a time, as tcplab watch would: the sending end alone gives the
// run's verdict (and, for the slow readers, the sub-cause, from how little
// of the peer's window crossed per RTT); the receiving end alone says
// receiver-limited for them and, for the others, that the sender or the path
// held the transfer, which it cannot tell apart.
func TestOneEndOfRecordedRuns(t *testing.T) {
	cases := []struct {
		dir       string
		class     Class
		sub       SubCause
		receiving Class
	}{
		{"receiver-limited-cubic", ReceiverLimited, SubAppNotRead, ReceiverLimited},
		{"receiver-limited-bbr", ReceiverLimited, SubAppNotRead, ReceiverLimited},
		{"network-limited-cubic", NetworkLimited, "", Unknown},
		{"network-limited-bbr", NetworkLimited, "", Unknown},
		{"sender-limited-cubic", SenderLimited, SubAppIdle, Unknown},
		{"sender-limited-bbr", SenderLimited, SubAppIdle, Unknown},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			ss, _ := labtest.ReadRecorded(t, filepath.Join("testdata", c.dir))
			meta := record.Meta{Scenario: c.dir, WindowS: 0.25, Watch: &record.WatchRecord{Target: "test"}}
			snd := Build(meta, oneEnd(ss, record.RoleSender), nil, 250e6)
			if snd.Ends != EndsSending || snd.Verdict.Class != c.class || (c.sub != "" && snd.Verdict.SubCause != c.sub) {
				t.Errorf("the sending end alone: %s from the %q end, want %s / %s\n%v", snd.Verdict.Text(" — "), snd.Ends, c.class, c.sub, snd.Verdict.Evidence)
			}
			rcv := Build(meta, oneEnd(ss, record.RoleReceiver), nil, 250e6)
			want := SubNotReceiver
			if c.receiving == ReceiverLimited {
				want = SubAppNotRead
			}
			if rcv.Ends != EndsReceiving || rcv.Verdict.Class != c.receiving || rcv.Verdict.SubCause != want {
				t.Errorf("the receiving end alone: %s from the %q end, want %s / %s\n%v", rcv.Verdict.Text(" — "), rcv.Ends, c.receiving, want, rcv.Verdict.Evidence)
			}
			if rcv.Path.GoodputBits <= 0 || len(rcv.Connections) != 1 || rcv.Connections[0].Verdict != c.receiving {
				t.Errorf("the receiving end's path %+v, connections %+v", rcv.Path, rcv.Connections)
			}
			// Every format says it was a watch, and of which end.
			files, err := RenderAll(&rcv)
			if err != nil {
				t.Fatal(err)
			}
			says := map[string]string{
				record.FileText:     "its receiving end sampled",
				record.FileMarkdown: "## tcplab watch of test",
				record.FileHTML:     "<h1>tcplab watch of test</h1>",
			}
			for _, f := range files {
				if w, ok := says[f.File]; ok && !strings.Contains(string(f.Data), w) {
					t.Errorf("%s lacks %q:\n%.600s", f.File, w, f.Data)
				}
				if f.File == record.FileText && !strings.Contains(string(f.Data), "shares of the sending socket's time: none") {
					t.Errorf("report.txt shows shares the receiving end does not have:\n%s", f.Data)
				}
			}
		})
	}
}

// TestReceivingEndRules: the receiving end's rules on made-up spans — a
// buffer left unread, a zero window, a whole window crossing per RTT with
// nothing unread (a buffer too small), and a receiver that kept up.
func TestReceivingEndRules(t *testing.T) {
	cases := []struct {
		name  string
		e     Evidence
		class Class
		sub   SubCause
	}{
		{"unread", Evidence{ReceiverSamples: 10, ReceiverUnread: 0.6}, ReceiverLimited, SubAppNotRead},
		{"zero window", Evidence{ReceiverSamples: 10, ZeroWindow: 0.5}, ReceiverLimited, SubAppNotRead},
		{"small buffer", Evidence{ReceiverSamples: 10, WindowFill: 0.95}, ReceiverLimited, SubRcvBufSmall},
		{"window with some unread", Evidence{ReceiverSamples: 10, WindowFill: 0.95, ReceiverUnread: 0.1}, ReceiverLimited, SubRcvWindow},
		{"kept up", Evidence{ReceiverSamples: 10, WindowFill: 0.4, ReceiverUnread: 0.01}, Unknown, SubNotReceiver},
		{"no samples", Evidence{}, Unknown, subUnclassified},
	}
	for _, c := range cases {
		if class, sub := labelReceiving(c.e); class != c.class || sub != c.sub {
			t.Errorf("%s: %s / %q, want %s / %q", c.name, class, sub, c.class, c.sub)
		}
	}
	if _, _, v := ClassifyReceiving(nil, 250e6); v.Class != Unknown {
		t.Errorf("no samples: %s", v.Class)
	}
}
