package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/tcplab/tcplab/record"
)

// HTTPSummary is the built-in HTTP client's and server's account of their
// requests (nil sides did not run).
type HTTPSummary struct {
	Client *record.HTTPStats `json:"client"`
	Server *record.HTTPStats `json:"server"`
}

// addHTTP adds the HTTP peers' accounts, from their events.
func (sum *Summary) addHTTP(events []record.Event) {
	for _, e := range events {
		if e.Kind != record.EventHTTP || e.HTTP == nil {
			continue
		}
		if sum.HTTP == nil {
			sum.HTTP = &HTTPSummary{}
		}
		st := *e.HTTP
		if e.Side == record.RoleSender {
			sum.HTTP.Client = &st
		} else {
			sum.HTTP.Server = &st
		}
	}
}

// httpClient is a subject of the HTTP client's account (NaN: no client).
func httpClient(kind expectKind, f func(c *record.HTTPStats) float64) runSubject {
	return runSubject{kind, func(sum *Summary) (Class, float64) {
		if sum.HTTP == nil || sum.HTTP.Client == nil {
			return "", math.NaN()
		}
		return "", f(sum.HTTP.Client)
	}, func(*Summary) string { return "unknown (no built-in http_client ran)" }}
}

// writeHTTP writes the HTTP peers' accounts.
func writeHTTP(w io.Writer, s *Summary, paint func(code, text string) string) {
	if s.HTTP == nil {
		return
	}
	if c := s.HTTP.Client; c != nil {
		fmt.Fprintf(w, "\nhttp client: %d request(s), %d ok, %d failed; latency p50 %s p99 %s max %s; bodies sent %s, received %s\n",
			c.Requests, c.OK, c.Failed, msText(c.LatencyP50Ms), msText(c.LatencyP99Ms), msText(c.LatencyMaxMs), sizeText(c.BytesSent), sizeText(c.BytesReceived))
		for _, e := range c.Errors {
			fmt.Fprintf(w, "  %s\n", paint(ansiRed, e))
		}
	}
	if c := s.HTTP.Server; c != nil {
		fmt.Fprintf(w, "http server: %d request(s) served, %d failed; bodies received %s, sent %s\n", c.Requests, c.Failed, sizeText(c.BytesReceived), sizeText(c.BytesSent))
		for _, e := range c.Errors {
			fmt.Fprintf(w, "  %s\n", paint(ansiRed, e))
		}
	}
}

// httpMarkdown is the HTTP client's line for summary.md.
func httpMarkdown(b *strings.Builder, s *Summary) {
	if s.HTTP == nil || s.HTTP.Client == nil {
		return
	}
	c := s.HTTP.Client
	fmt.Fprintf(b, "\n**HTTP client:** %d request(s), %d ok, %d failed; latency p50 %s, p99 %s\n", c.Requests, c.OK, c.Failed, msText(c.LatencyP50Ms), msText(c.LatencyP99Ms))
}
