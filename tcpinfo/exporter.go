package tcpinfo

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a Prometheus collector of per-connection TCP metrics: at each
// scrape it dumps the established sockets of every namespace added (through
// sock_diag) and exports each connection's tcp_info fields — only those the
// kernel returned. Labels: netns, local, remote, cong.
type Collector struct {
	mu      sync.Mutex
	sources []collectorSource
}

type collectorSource struct {
	name string
	conn *DiagConn
	port uint16
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{} }

// Add exports the sockets of the namespace conn was opened in, under the
// label netns=name; port, when not 0, keeps only sockets using that port.
func (c *Collector) Add(name string, conn *DiagConn, port uint16) {
	c.mu.Lock()
	c.sources = append(c.sources, collectorSource{name, conn, port})
	c.mu.Unlock()
}

var labels = []string{"netns", "local", "remote", "cong"}

type metricDef struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	field string // tcp_info field deciding validity ("" = always present)
	value func(d *DiagSocket) float64
}

func def(name, help string, kind prometheus.ValueType, field string, v func(d *DiagSocket) float64) metricDef {
	return metricDef{prometheus.NewDesc("tcplab_tcp_"+name, help, labels, nil), kind, field, v}
}

var metricDefs = []metricDef{
	def("rtt_seconds", "Smoothed round-trip time (tcpi_rtt).", prometheus.GaugeValue, "rtt", func(d *DiagSocket) float64 { return float64(d.Info.RTT) / 1e6 }),
	def("min_rtt_seconds", "Minimum round-trip time seen (tcpi_min_rtt).", prometheus.GaugeValue, "min_rtt", func(d *DiagSocket) float64 { return float64(d.Info.MinRTT) / 1e6 }),
	def("cwnd_segments", "Congestion window (tcpi_snd_cwnd).", prometheus.GaugeValue, "snd_cwnd", func(d *DiagSocket) float64 { return float64(d.Info.SndCwnd) }),
	def("snd_wnd_bytes", "The peer's advertised window (tcpi_snd_wnd).", prometheus.GaugeValue, "snd_wnd", func(d *DiagSocket) float64 { return float64(d.Info.SndWnd) }),
	def("rcv_wnd_bytes", "The window this socket advertises (tcpi_rcv_wnd).", prometheus.GaugeValue, "rcv_wnd", func(d *DiagSocket) float64 { return float64(d.Info.RcvWnd) }),
	def("bytes_acked_total", "Bytes acknowledged by the peer (tcpi_bytes_acked).", prometheus.CounterValue, "bytes_acked", func(d *DiagSocket) float64 { return float64(d.Info.BytesAcked) }),
	def("bytes_received_total", "Bytes received (tcpi_bytes_received).", prometheus.CounterValue, "bytes_received", func(d *DiagSocket) float64 { return float64(d.Info.BytesReceived) }),
	def("retransmits_total", "Segments retransmitted (tcpi_total_retrans).", prometheus.CounterValue, "total_retrans", func(d *DiagSocket) float64 { return float64(d.Info.TotalRetrans) }),
	def("busy_seconds_total", "Time with data in flight or queued (tcpi_busy_time).", prometheus.CounterValue, "busy_time", func(d *DiagSocket) float64 { return float64(d.Info.BusyTime) / 1e6 }),
	def("rwnd_limited_seconds_total", "Time limited by the peer's receive window (tcpi_rwnd_limited).", prometheus.CounterValue, "rwnd_limited", func(d *DiagSocket) float64 { return float64(d.Info.RwndLimited) / 1e6 }),
	def("sndbuf_limited_seconds_total", "Time limited by the send buffer (tcpi_sndbuf_limited).", prometheus.CounterValue, "sndbuf_limited", func(d *DiagSocket) float64 { return float64(d.Info.SndbufLimited) / 1e6 }),
	def("delivery_rate_bytes", "Most recent delivery rate sample, bytes/s (tcpi_delivery_rate).", prometheus.GaugeValue, "delivery_rate", func(d *DiagSocket) float64 { return float64(d.Info.DeliveryRate) }),
	def("notsent_bytes", "Bytes written by the application, not yet sent (tcpi_notsent_bytes).", prometheus.GaugeValue, "notsent_bytes", func(d *DiagSocket) float64 { return float64(d.Info.NotsentBytes) }),
	def("unread_bytes", "Bytes received but not read by the application (idiag_rqueue).", prometheus.GaugeValue, "", func(d *DiagSocket) float64 { return float64(d.RQueue) }),
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metricDefs {
		ch <- m.desc
	}
}

var scrapeErrors = prometheus.NewDesc("tcplab_sock_diag_errors", "1 when the last dump of a namespace failed.", []string{"netns"}, nil)

// Collect dumps each namespace and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, src := range c.sources {
		err := src.conn.Dump(DiagFilter{States: StateEstablished}, func(d *DiagSocket) {
			if src.port != 0 && d.Src.Port() != src.port && d.Dst.Port() != src.port {
				return
			}
			if !d.HasInfo {
				return
			}
			lv := []string{src.name, d.Src.String(), d.Dst.String(), d.Cong}
			for _, m := range metricDefs {
				if m.field != "" && !d.Info.Has(m.field) {
					continue
				}
				ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(d), lv...)
			}
		})
		v := 0.0
		if err != nil {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(scrapeErrors, prometheus.GaugeValue, v, src.name)
	}
}
