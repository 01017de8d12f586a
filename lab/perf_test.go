package lab

import (
	"context"
	"strings"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// BenchmarkUserspaceLink is the measured run behind the userspace link's
// figures (.ci/run runs it as a step of its own, -benchtime 1x: about 20 s
// per iteration): unimpaired bulk throughput through the link against raw
// veth between the same kind of namespaces, and fidelity at 2 Gbit/s with
// 50 ms RTT. Its goals — the link ≥ 50% of raw veth, ≥ 93% of 2 Gbit/s,
// release lateness p99 ≤ 0.5 ms — are figures for the issue notes, reported
// as metrics, not assertions: a loaded machine would make them flaky.
func BenchmarkUserspaceLink(b *testing.B) {
	labtest.RequireRoot(b)
	run := func(name, backend string, link string) *report.Summary {
		b.Helper()
		src := "name: " + name + "\nduration: 6s\nlink:\n  backend: " + backend + "\n" + link +
			"sender:\n  message: { size: 64KiB }\n  socket: { sndbuf: 64MiB, congestion: cubic }\n" +
			"receiver:\n  read: { rate: max, size: 1MiB }\n  socket: { rcvbuf: 64MiB, congestion: cubic }\n"
		s, err := scenario.Parse(name+".yaml", []byte(src))
		if err != nil {
			b.Fatal(err)
		}
		res, err := Run(context.Background(), s, RunOptions{OutDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		return &res.Summary
	}
	steady := func(s *report.Summary) float64 {
		var sum float64
		n := 0
		for _, w := range s.Windows {
			if w.Start >= 2 {
				sum += w.Evidence.GoodputBits
				n++
			}
		}
		return sum / float64(n)
	}
	for i := 0; i < b.N; i++ {
		veth := run("raw-veth", "netem", "")
		us := run("userspace-unimpaired", "userspace", "")
		gv, gu := steady(veth), steady(us)
		b.ReportMetric(gv/1e9, "veth-Gbit/s")
		b.ReportMetric(gu/1e9, "link-Gbit/s")
		b.ReportMetric(100*gu/gv, "link-%-of-veth")
		wan := run("userspace-5gbit-50ms", "userspace", "  both: { delay: 25ms, rate: 5gbit }\n")
		g := steady(wan)
		for _, c := range wan.SelfCheck {
			if strings.HasPrefix(c.What, "base RTT") && !c.OK {
				b.Errorf("base RTT off: %+v", c)
			}
		}
		lc := wan.Meta.Link.Down.Counters
		b.ReportMetric(100*g/5e9, "wan-%-of-5Gbit/s")
		b.ReportMetric(lc.LatenessP50, "wan-lateness-p50-ms")
		b.ReportMetric(lc.LatenessP99, "wan-lateness-p99-ms")
		b.ReportMetric(lc.LatenessMax, "wan-lateness-max-ms")
		b.ReportMetric(float64(lc.DropQueue), "wan-queue-drops")
	}
}
