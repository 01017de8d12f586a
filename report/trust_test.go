package report

import (
	"strings"
	"testing"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// ticks makes n samples of one socket, every interval ns, skipping every
// skip-th (0: none).
func ticks(side string, n int, interval int64, skip int) []tcpinfo.Sample {
	var out []tcpinfo.Sample
	for i := 0; i < n; i++ {
		if skip > 0 && i%skip == 0 {
			continue
		}
		out = append(out, tcpinfo.Sample{T: int64(i) * interval, Side: side})
	}
	return out
}

func TestTrustRules(t *testing.T) {
	const iv = 10e6
	link := func(p50, p99, delay float64) *record.LinkRecord {
		d := record.LinkDirection{DelayMs: delay, Counters: &record.LinkCounters{Forwarded: 1000, LatenessP50: p50, LatenessP99: p99}}
		return &record.LinkRecord{Backend: "userspace", Down: d, Up: d}
	}
	for _, c := range []struct {
		name    string
		meta    record.Meta
		samples []tcpinfo.Sample
		want    TrustLevel
		kind    TrustKind
	}{
		{"ok", record.Meta{SampleIntervalS: 0.01, Link: link(0.1, 2, 25)}, ticks("sender", 300, iv, 0), TrustOK, ""},
		{"late tail", record.Meta{SampleIntervalS: 0.01, Link: link(0.1, 9, 25)}, ticks("sender", 300, iv, 0), TrustDoubtful, TrustLinkLate},
		{"late typical packet", record.Meta{SampleIntervalS: 0.01, Link: link(7.9, 27.3, 0)}, ticks("sender", 300, iv, 0), TrustDistorted, TrustLinkLate},
		{"late but a long delay", record.Meta{SampleIntervalS: 0.01, Link: link(3, 20, 100)}, ticks("sender", 300, iv, 0), TrustOK, ""},
		{"a third of the ticks missed", record.Meta{SampleIntervalS: 0.01}, ticks("sender", 300, iv, 3), TrustDoubtful, TrustCoverage},
		{"most ticks missed", record.Meta{SampleIntervalS: 0.01}, ticks("sender", 300, iv, 0), TrustDistorted, TrustCoverage},
		{"cpu pressure", record.Meta{SampleIntervalS: 0.01, Host: &record.HostHealth{CPUPressure: 0.95}}, ticks("sender", 300, iv, 0), TrustDoubtful, TrustCPU},
		{"wire missed", record.Meta{SampleIntervalS: 0.01, Link: &record.LinkRecord{Wire: &record.WireRecord{MissedPackets: 3}}}, ticks("sender", 300, iv, 0), TrustDoubtful, TrustWire},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "most ticks missed" {
				// Samples 90 ms apart against a 10 ms interval.
				for i := range c.samples {
					c.samples[i].T *= 9
				}
			}
			sum := &Summary{Meta: c.meta, Expectations: []ExpectResult{{Expect: "verdict == network-limited", Holds: true}}}
			sum.Meta.End = record.EndCompleted
			sum.judgeTrust(c.samples)
			tr := sum.Trust
			if tr.Level != c.want || (c.kind != "" && (len(tr.Reasons) == 0 || tr.Reasons[0].Kind != c.kind)) {
				t.Fatalf("trust %+v, want %s by %s", tr, c.want, c.kind)
			}
			distorted := c.want == TrustDistorted
			if sum.Passed() == distorted || sum.Expectations[0].Untrusted != distorted {
				t.Errorf("passed %v, expectation untrusted %v; a distorted run must not pass", sum.Passed(), sum.Expectations[0].Untrusted)
			}
			var txt strings.Builder
			WriteText(&txt, sum)
			if !strings.Contains(txt.String(), "TRUST: "+string(c.want)) || distorted && !strings.Contains(txt.String(), "UNTRUSTED") {
				t.Errorf("report.txt does not say the trust:\n%s", txt.String())
			}
		})
	}
	// A run recorded before trust was judged is not judged.
	old := &Summary{}
	old.judgeTrust(ticks("sender", 300, iv, 3))
	if old.Trust != nil {
		t.Errorf("an old run was judged: %+v", old.Trust)
	}
}
