package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/tcpinfo"
)

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLiveProgress feeds the live status line the first 2 s of a recorded
// run as if they had just been written: it shows the time, a goodput, the
// RTT and the class of the current window.
func TestLiveProgress(t *testing.T) {
	dir := recordedRun(t)
	f, err := os.Open(filepath.Join(dir, record.FileSamples))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	live := filepath.Join(t.TempDir(), record.FileSamples)
	out, err := os.Create(live)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var s tcpinfo.Sample
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.T <= 2e9 {
			out.Write(append(sc.Bytes(), '\n'))
		}
	}
	out.Close()
	var w lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	liveProgress(ctx, &w, live, tcpinfo.Monotonic()-2e9, 4*time.Second, 250*time.Millisecond)
	got := w.String()
	if !strings.Contains(got, "/ 4s") || !strings.Contains(got, "Mbit/s") || !strings.Contains(got, "rtt ") {
		t.Fatalf("status line lacks time, goodput or RTT: %q", got)
	}
	ok := false
	for _, c := range []report.Class{report.SenderLimited, report.ReceiverLimited, report.NetworkLimited, report.Mixed} {
		ok = ok || strings.Contains(got, "now: "+string(c))
	}
	if !ok {
		t.Errorf("status line lacks the current window's class: %q", got)
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("the status line is not cleared at the end: %q", got[max(0, len(got)-20):])
	}
}
