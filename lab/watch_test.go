package lab

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/watch"
)

// labNotes catches the namespaces of a run from its progress notes.
type labNotes struct {
	mu       sync.Mutex
	snd, rcv string
	ready    chan struct{}
}

var labLine = regexp.MustCompile(`lab \S+: (\S+) \(\S+\) ⇄ (\S+) \(`)

func (n *labNotes) Write(b []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m := labLine.FindSubmatch(b); m != nil && n.snd == "" {
		n.snd, n.rcv = string(m[1]), string(m[2])
		close(n.ready)
	}
	return len(b), nil
}

// watchEnd watches one namespace of a live run for d into a run directory.
func watchEnd(t *testing.T, ns string, d time.Duration) (*watch.Result, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "watch-"+ns)
	w, err := watch.Open(watch.Options{Target: watch.Target{NetNS: ns}, For: d, Out: dir})
	if err != nil {
		t.Error(err)
		return nil, dir
	}
	defer w.Close()
	res, err := w.Run(context.Background())
	if err != nil {
		t.Error(err)
	}
	return res, dir
}

// TestWatchLoop: tcplab watch on a live lab — its sending end, and its
// receiving end — gives the run's own verdict for a slow reader, a
// 20 Mbit/s link and a paced sender (the receiving end alone says
// receiver-limited, or that the sender or the path held it); the watch's
// run directory renders every report format; and a scenario inferred from
// the watch, run again, reproduces the run's verdict, base RTT within 2%
// (4% behind a rate: see TestInferLoop) and goodput within 10%.
func TestWatchLoop(t *testing.T) {
	cases := []struct {
		name, src string
		rcvClass  report.Class
		rcvSub    report.SubCause
	}{
		{"slow-reader", "name: slow-reader\nduration: 7s\nlink: { both: { delay: 5ms } }\nsender: { message: { size: 1KiB } }\nreceiver: { read: { rate: 2MB/s, size: 16KiB } }\n", report.ReceiverLimited, report.SubAppNotRead},
		{"link-20mbit", "name: link-20mbit\nduration: 7s\nlink: { both: { delay: 10ms }, down: { rate: 20mbit } }\nsender: { message: { size: 16KiB } }\n", report.Unknown, report.SubNotReceiver},
		{"paced-sender", "name: paced-sender\nduration: 7s\nlink: { both: { delay: 15ms } }\nsender: { rate: 5mbit, message: { size: 1KiB } }\n", report.Unknown, report.SubNotReceiver},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			timerBound(t)
			s, err := scenario.Parse(c.name+".yaml", []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			notes := &labNotes{ready: make(chan struct{})}
			var first *Result
			var runErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				first, runErr = Run(context.Background(), s, RunOptions{OutDir: filepath.Join(t.TempDir(), "run"), Progress: notes})
			}()
			select {
			case <-notes.ready:
			case <-done:
				t.Fatalf("the run ended before its lab was up: %v", runErr)
			}
			time.Sleep(1500 * time.Millisecond) // past slow start and the reader's buffer filling
			var snd, rcv *watch.Result
			var sndDir, rcvDir string
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); snd, sndDir = watchEnd(t, notes.snd, 4*time.Second) }()
			go func() { defer wg.Done(); rcv, rcvDir = watchEnd(t, notes.rcv, 4*time.Second) }()
			wg.Wait()
			<-done
			if runErr != nil {
				t.Fatal(runErr)
			}
			if snd == nil || rcv == nil || snd.Summary == nil || rcv.Summary == nil {
				t.Fatalf("a watch recorded nothing: %+v %+v", snd, rcv)
			}
			run, ws, wr := &first.Summary, snd.Summary, rcv.Summary
			var txt strings.Builder
			report.WriteText(&txt, ws)
			t.Logf("the run: %s; the sending end's watch:\n%s", run.Verdict.Text(" — "), txt.String())
			if ws.Verdict.Class != run.Verdict.Class || ws.Ends != report.EndsSending {
				t.Errorf("watching the sending end: %s from the %s end; the run's own report: %s", ws.Verdict.Text(" — "), ws.Ends, run.Verdict.Text(" — "))
			}
			if wr.Verdict.Class != c.rcvClass || wr.Verdict.SubCause != c.rcvSub || wr.Ends != report.EndsReceiving {
				t.Errorf("watching the receiving end: %s from the %s end, want %s — %s", wr.Verdict.Text(" — "), wr.Ends, c.rcvClass, c.rcvSub)
			}
			// Every report format, and tcplab report renders it again alike.
			for _, f := range report.Formats {
				if fi, err := os.Stat(filepath.Join(sndDir, f.File)); err != nil || fi.Size() == 0 {
					t.Errorf("the watch's %s: %v", f.File, err)
				}
			}
			again, err := Rerender(sndDir)
			if err != nil || again.Summary.Verdict.Class != ws.Verdict.Class || again.Summary.Meta.Watch == nil {
				t.Errorf("tcplab report of the watch: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(sndDir, record.FileText)); !strings.Contains(string(b), "tcplab watch of netns "+notes.snd) {
				t.Errorf("report.txt does not name the watch:\n%.500s", b)
			}
			// The loop: a scenario from the watch, run again.
			s2, text := inferred(t, sndDir, c.name)
			res2, _ := runScenario(t, s2, RunOptions{OutDir: filepath.Join(t.TempDir(), "again")})
			b := &res2.Summary
			t.Logf("%s: run %s, base RTT %.2f ms, goodput %.2f Mbit/s; watched: %s, %.2f ms, %.2f Mbit/s; inferred and run again: %s, %.2f ms, %.2f Mbit/s\n%s",
				c.name, run.Verdict.Class, run.Path.MinRTTMs, run.Path.GoodputBits/1e6, ws.Verdict.Class, ws.Path.MinRTTMs, ws.Path.GoodputBits/1e6,
				b.Verdict.Class, b.Path.MinRTTMs, b.Path.GoodputBits/1e6, text)
			assertReproduced(t, run, b, rttTolerance(c.name))
			if _, err := InferScenario(rcvDir, "x"); c.rcvSub == report.SubNotReceiver && (err == nil || !strings.Contains(err.Error(), "watch the sending end")) {
				t.Errorf("inferring from a receiving end that kept up: %v", err)
			}
		})
	}
}
