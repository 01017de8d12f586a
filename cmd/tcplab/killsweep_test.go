package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/lab"
)

// labState is what runs leave on the host: namespaces, address slots, and
// this test binary's processes (points and peers) besides itself.
type labState struct {
	namespaces, slots map[string]bool
	procs             []int
}

func hostLabState() labState {
	st := labState{namespaces: map[string]bool{}, slots: map[string]bool{}}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tcplab-") {
			st.namespaces[e.Name()] = true
		}
	}
	slots, _ := os.ReadDir("/run/tcplab/slots")
	for _, s := range slots {
		st.slots[s.Name()] = true
	}
	st.procs = peerProcesses()
	return st
}

// newSince lists what st holds that before did not.
func (st labState) newSince(before labState) []string {
	var out []string
	for n := range st.namespaces {
		if !before.namespaces[n] {
			out = append(out, "namespace "+n)
		}
	}
	for n := range st.slots {
		if !before.slots[n] {
			out = append(out, "slot "+n)
		}
	}
	for _, p := range st.procs {
		out = append(out, "process "+strconv.Itoa(p))
	}
	return out
}

// killSweepOnce starts a sweep of four 20 s points, kills its process with
// SIGKILL after wait, runs tcplab cleanup once and returns what is left.
func killSweepOnce(t *testing.T, file string, wait time.Duration) (left []string, dir string) {
	t.Helper()
	before := hostLabState()
	dir = filepath.Join(t.TempDir(), "sweep")
	cmd := tcplabCmd("run", "-q", file, "--out", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(wait)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	r := runTcplab(t, "cleanup")
	if r.code != 0 {
		t.Errorf("cleanup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return hostLabState().newSince(before), dir
}

const killSweepFile = "name: killme\nduration: 20s\nsender: { listen: true, rate: 1mbit }\nreceiver: { clients: 2 }\nmatrix:\n  sender.rate: [1mbit, 2mbit, 3mbit, 4mbit]\n"

// TestSweepKilled: kill -9 of a sweep's process early (points starting) and
// late (points running), then one tcplab cleanup: no point, peer,
// namespace or slot is left, and sweep.json keeps what was known (running).
// Before: every point ran on to its end with its namespaces, and cleanup
// said "nothing to clean up". TCPLAB_KILL_SWEEPS=N repeats it N times at
// random moments.
func TestSweepKilled(t *testing.T) {
	labtest.RequireRoot(t)
	file := writeFile(t, "killme.yaml", killSweepFile)
	waits := []time.Duration{150 * time.Millisecond, 2500 * time.Millisecond}
	if n, _ := strconv.Atoi(os.Getenv("TCPLAB_KILL_SWEEPS")); n > 0 {
		waits = waits[:0]
		for range n {
			waits = append(waits, time.Duration(rand.Int64N(int64(4*time.Second))))
		}
	}
	for i, wait := range waits {
		left, dir := killSweepOnce(t, file, wait)
		if len(left) > 0 {
			t.Errorf("kill %d after %v: left behind: %v", i, wait, left)
		}
		if wait < 2*time.Second {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "sweep.json"))
		if err != nil {
			t.Errorf("kill %d after %v: no sweep.json: %v", i, wait, err)
			continue
		}
		var rep struct {
			Running bool `json:"running"`
		}
		if json.Unmarshal(b, &rep); !rep.Running {
			t.Errorf("kill %d: sweep.json does not say the sweep did not finish", i)
		}
		// A shard that did not finish is not merged as if it had.
		if m := runTcplab(t, "report", "merge", dir); m.code != 2 || !strings.Contains(m.stderr, "did not finish") {
			t.Errorf("kill %d: merge of the killed sweep: exit %d %s", i, m.code, m.stderr)
		}
		// Each point ended itself on its parent-death signal: interrupted,
		// its report written.
		for _, p := range []string{"p00", "p01", "p02", "p03"} {
			rb, err := os.ReadFile(filepath.Join(dir, p, "report.json"))
			if err != nil || !strings.Contains(string(rb), `"end": "interrupted"`) {
				t.Errorf("kill %d: %s: %v %.200s", i, p, err, rb)
			}
		}
	}
	if t.Failed() {
		return
	}
	if o := lab.FindOrphanPoints(); len(o) > 0 {
		t.Errorf("orphaned points still found: %+v", o)
	}
}
