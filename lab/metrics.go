package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/tcpinfo"
)

// serveMetrics serves /metrics on addr during a run: per-connection TCP
// metrics of both namespaces, read through sock_diag at each scrape. It
// returns the bound address and the function that stops the server.
func serveMetrics(addr string, topo *netem.Topology, port uint16) (string, func() error, error) {
	col := tcpinfo.NewCollector()
	var conns []*tcpinfo.DiagConn
	closeConns := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for _, x := range []struct {
		name string
		ep   *netem.Endpoint
	}{{"sender", &topo.Sender}, {"receiver", &topo.Receiver}} {
		var fd int
		if err := netem.Do(x.ep.NS, func() (err error) {
			fd, err = tcpinfo.OpenDiagSocket()
			return err
		}); err != nil {
			closeConns()
			return "", nil, err
		}
		dc := tcpinfo.NewDiagConn(fd)
		conns = append(conns, dc)
		col.Add(x.name, dc, port)
	}
	srv, bound, err := ServeCollector(addr, col)
	if err != nil {
		closeConns()
		return "", nil, err
	}
	return bound, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		closeConns()
		return err
	}, nil
}

// ServeCollector serves cols at /metrics on addr (host:port; port 0 picks
// one) and returns the server and the address it listens on.
func ServeCollector(addr string, cols ...prometheus.Collector) (*http.Server, string, error) {
	reg := prometheus.NewRegistry()
	for _, col := range cols {
		if err := reg.Register(col); err != nil {
			return nil, "", err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the run goes on without metrics
		}
	}()
	return srv, ln.Addr().String(), nil
}
