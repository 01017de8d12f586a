package watch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tcplab/tcplab/report"
)

// ClassCollector exports, for Prometheus, each followed connection's
// seconds limited by each class: a counter per connection and class, the
// verdict of its windows so far (from the end the host has).
type ClassCollector struct {
	W *Watcher
	// NetNS is the netns label (as the socket metrics have it).
	NetNS string
}

var limitedSeconds = prometheus.NewDesc("tcplab_tcp_limited_seconds_total",
	"Seconds of a connection's windows each class held it (sender-limited, receiver-limited, network-limited, mixed, unknown), judged from the end on this host.",
	[]string{"netns", "local", "remote", "class"}, nil)

// Describe sends the metric's description.
func (c ClassCollector) Describe(ch chan<- *prometheus.Desc) { ch <- limitedSeconds }

// Collect sends every connection's seconds by class (each class, 0 too).
func (c ClassCollector) Collect(ch chan<- prometheus.Metric) {
	c.W.Seconds(func(cs ConnSeconds) {
		for _, class := range report.Classes {
			ch <- prometheus.MustNewConstMetric(limitedSeconds, prometheus.CounterValue, cs.Seconds[class], c.NetNS, cs.Local, cs.Remote, string(class))
		}
	})
}
