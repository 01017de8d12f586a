package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// HTTPClientConfig is the built-in HTTP client (the connecting side).
type HTTPClientConfig struct {
	Requests     int           `json:"requests,omitempty"` // 0: until the end
	Concurrency  int           `json:"concurrency"`
	Interval     time.Duration `json:"interval,omitempty"`
	Path         string        `json:"path"`
	RequestSize  int           `json:"request_size,omitempty"`
	ResponseSize int64         `json:"response_size"` // -1: the server's choice
	KeepAlive    bool          `json:"keep_alive"`
	MaxIdle      int           `json:"max_idle"`
	MaxConns     int           `json:"max_conns,omitempty"`
	IdleTimeout  time.Duration `json:"idle_timeout"`
	MaxAge       time.Duration `json:"max_age,omitempty"`
	ReadRate     uint64        `json:"read_rate,omitempty"` // bytes/s, 0: no limit
	Timeout      time.Duration `json:"timeout"`
}

// HTTPServerConfig is the built-in HTTP server (the listening side).
type HTTPServerConfig struct {
	ResponseSize int64         `json:"response_size"`
	ResponseTime time.Duration `json:"response_time,omitempty"`
	IdleTimeout  time.Duration `json:"idle_timeout,omitempty"`
	MaxRequests  int           `json:"max_requests,omitempty"`
	Close        bool          `json:"close,omitempty"`
	WriteRate    uint64        `json:"write_rate,omitempty"` // bytes/s
	ReadRate     uint64        `json:"read_rate,omitempty"`  // bytes/s
}

// SizeHeader asks tcplab's HTTP server for a response body of that many
// bytes.
const SizeHeader = "X-Tcplab-Response-Size"

// endGrace is how long the server waits at the run's end for its clients
// to close their connections before it closes what is left: the client
// that closes at the end is the one seen closing.
const endGrace = 500 * time.Millisecond

// paced copies n bytes (or all of r, n < 0) from r to w at rate bytes/s
// (0: no limit), in slices of writeSlice.
func paced(ctx context.Context, w io.Writer, r io.Reader, n int64, rate uint64) (int64, error) {
	buf := make([]byte, 32<<10)
	var done int64
	started := time.Now()
	for n < 0 || done < n {
		chunk := int64(len(buf))
		if rate > 0 {
			chunk = min(chunk, max(1, int64(rate)*int64(writeSlice)/int64(time.Second)))
		}
		if n >= 0 {
			chunk = min(chunk, n-done)
		}
		var k int
		var err error
		if r != nil {
			k, err = r.Read(buf[:chunk])
		} else {
			k = int(chunk)
		}
		if k > 0 && w != nil {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return done, werr
			}
		}
		done += int64(k)
		if err != nil {
			if err == io.EOF && n < 0 {
				return done, nil
			}
			return done, err
		}
		if rate > 0 {
			due := started.Add(time.Duration(float64(done) / float64(rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return done, ctx.Err()
				case <-time.After(d):
				}
			}
		}
	}
	return done, nil
}

// runHTTPServer serves requests until the run's end, then gives the
// clients endGrace to close their connections.
func runHTTPServer(ctx context.Context, cfg *Config, out Outputs, log *eventLog) error {
	h := cfg.HTTPServer
	ln, rctx, cancel, err := listenAndBegin(ctx, cfg, out, log)
	if err != nil {
		return err
	}
	defer cancel()
	log.emit(Event{Kind: EventListening, Conn: -1, Addr: ln.Addr().String()})
	type connState struct{ served int }
	var mu sync.Mutex
	var st record.HTTPStats
	open := map[net.Conn]bool{}
	type connKey struct{}
	srv := &http.Server{
		IdleTimeout: h.IdleTimeout,
		ConnContext: func(c context.Context, _ net.Conn) context.Context {
			return context.WithValue(c, connKey{}, &connState{})
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch s {
			case http.StateNew:
				open[c] = true
			case http.StateClosed, http.StateHijacked:
				delete(open, c)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cs, _ := r.Context().Value(connKey{}).(*connState)
			got, rerr := paced(r.Context(), nil, r.Body, -1, h.ReadRate)
			size := h.ResponseSize
			if v := r.Header.Get(SizeHeader); v != "" {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= 1<<30 {
					size = n
				}
			}
			if h.ResponseTime > 0 {
				select {
				case <-r.Context().Done():
				case <-time.After(h.ResponseTime):
				}
			}
			cs.served++
			if h.Close || (h.MaxRequests > 0 && cs.served >= h.MaxRequests) {
				w.Header().Set("Connection", "close")
			}
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			sent, werr := paced(r.Context(), w, nil, size, h.WriteRate)
			mu.Lock()
			st.Requests++
			st.BytesReceived += uint64(got)
			st.BytesSent += uint64(sent)
			if rerr == nil && werr == nil {
				st.OK++
			} else {
				st.Failed++
				if len(st.Errors) < record.MaxHTTPErrors {
					st.Errors = append(st.Errors, errors.Join(rerr, werr).Error())
				}
			}
			mu.Unlock()
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	<-rctx.Done()
	ln.Close()
	// The run's end: the clients close their connections (they end at
	// the same deadline); what is still open after the grace is closed.
	grace := time.Now().Add(endGrace)
	for time.Now().Before(grace) {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Close()
	<-served
	mu.Lock()
	defer mu.Unlock()
	log.emit(Event{Kind: record.EventHTTP, Conn: -1, HTTP: &st})
	return nil
}

// runHTTPClient makes requests on its workers until it has made them all
// or the run ends, then closes its pooled connections.
func runHTTPClient(ctx context.Context, cfg *Config, out Outputs, log *eventLog) error {
	h := cfg.HTTPClient
	rctx, cancel, err := begin(ctx, cfg, out, log)
	if err != nil {
		return err
	}
	defer cancel()
	dialer := &net.Dialer{Control: control(cfg.Socket), KeepAlive: -1}
	var agesMu sync.Mutex
	opened := map[net.Conn]time.Time{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil && h.MaxAge > 0 {
				agesMu.Lock()
				opened[c] = time.Now()
				agesMu.Unlock()
			}
			return c, err
		},
		DisableKeepAlives:   !h.KeepAlive,
		MaxIdleConnsPerHost: h.MaxIdle,
		MaxConnsPerHost:     h.MaxConns,
		IdleConnTimeout:     h.IdleTimeout,
		DisableCompression:  true,
	}
	if h.MaxIdle == 0 {
		tr.MaxIdleConnsPerHost = -1 // none kept: the client closes each one
	}
	client := &http.Client{Transport: tr, Timeout: h.Timeout}
	url := "http://" + cfg.Addr + h.Path

	var mu sync.Mutex
	var st record.HTTPStats
	var lat []float64
	var next int
	var wg sync.WaitGroup
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if h.Requests > 0 && next >= h.Requests {
			return false
		}
		next++
		return true
	}
	for w := 0; w < h.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			due := time.Now()
			for rctx.Err() == nil && take() {
				if d := time.Until(due); d > 0 {
					select {
					case <-rctx.Done():
						return
					case <-time.After(d):
					}
				}
				due = due.Add(h.Interval)
				if h.Interval == 0 {
					due = time.Now()
				}
				t0 := time.Now()
				sent, got, conn, err := oneRequest(rctx, client, url, h)
				if rctx.Err() != nil && err != nil {
					return // cut off by the run's end: not a failure of the path
				}
				mu.Lock()
				st.Requests++
				st.BytesSent += uint64(sent)
				st.BytesReceived += uint64(got)
				if err == nil {
					st.OK++
					lat = append(lat, float64(time.Since(t0))/1e6)
				} else {
					st.Failed++
					if len(st.Errors) < record.MaxHTTPErrors {
						st.Errors = append(st.Errors, fmt.Sprintf("%.3fs: %v", float64(tcpinfo.Monotonic()-cfg.Start)/1e9, err))
					}
				}
				mu.Unlock()
				if h.MaxAge > 0 && conn != nil {
					agesMu.Lock()
					if t, ok := opened[conn]; ok && time.Since(t) >= h.MaxAge {
						delete(opened, conn)
						conn.Close() // too old: the pool drops it
					}
					agesMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	<-rctx.Done()
	tr.CloseIdleConnections()
	if len(lat) > 0 {
		sort.Float64s(lat)
		at := func(q float64) float64 { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		st.LatencyP50Ms, st.LatencyP99Ms, st.LatencyMaxMs = at(0.5), at(0.99), lat[len(lat)-1]
	}
	log.emit(Event{Kind: record.EventHTTP, Conn: -1, HTTP: &st})
	return nil
}

// oneRequest makes one request and reads its response to the end; conn is
// the connection it went over (for the pool's max age).
func oneRequest(ctx context.Context, client *http.Client, url string, h *HTTPClientConfig) (sent, got int64, conn net.Conn, err error) {
	method := http.MethodGet
	var rd io.Reader
	if h.RequestSize > 0 {
		method, rd = http.MethodPost, &repeatReader{n: h.RequestSize}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, 0, nil, err
	}
	if h.RequestSize > 0 {
		req.ContentLength = int64(h.RequestSize)
	}
	if h.ResponseSize >= 0 {
		req.Header.Set(SizeHeader, strconv.FormatInt(h.ResponseSize, 10))
	}
	req = req.WithContext(withConnTrace(req.Context(), &conn))
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, conn, err
	}
	defer resp.Body.Close()
	got, err = paced(ctx, nil, resp.Body, -1, h.ReadRate)
	if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return int64(h.RequestSize), got, conn, err
}

// withConnTrace has *conn set to the connection a request goes over.
func withConnTrace(ctx context.Context, conn *net.Conn) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { *conn = i.Conn }})
}

// repeatReader is a request body of n zero bytes.
type repeatReader struct{ n int }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}
