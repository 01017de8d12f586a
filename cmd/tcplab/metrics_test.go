package main

import (
	"strings"
	"testing"
)

// TestMetricsExposure: --metrics on a loopback address is quiet; :PORT
// (every interface) and a non-loopback address get a warning naming where.
func TestMetricsExposure(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9464":  "",
		"[::1]:9464":      "",
		"localhost:9464":  "",
		":9464":           "every interface of this host",
		"0.0.0.0:9464":    "every interface of this host",
		"[::]:9464":       "every interface of this host",
		"198.18.0.1:9464": "on 198.18.0.1",
	} {
		got := metricsExposure(addr)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("metricsExposure(%q) = %q, want %q", addr, got, want)
		}
		if got != "" && !strings.Contains(got, "without authentication") {
			t.Errorf("warning does not say what is exposed: %q", got)
		}
	}
}
