package labtest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLeftovers(t *testing.T) {
	NetnsDir, SlotDir = t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(NetnsDir, "tcplab-abcd1234-snd"), nil, 0o444)
	os.WriteFile(filepath.Join(NetnsDir, "tcplab-abcd12345-snd"), nil, 0o444)
	os.WriteFile(filepath.Join(SlotDir, "00042"), []byte("abcd1234 1 2\n"), 0o644)
	got := Leftovers("abcd1234")
	if len(got) != 2 || got[0] != "namespace tcplab-abcd1234-snd" || got[1] != "address slot 00042" {
		t.Errorf("Leftovers = %q", got)
	}
	if got := Leftovers("ffff0000"); len(got) != 0 {
		t.Errorf("another run's: %q", got)
	}
}

// fakeTB records how a helper ended the test instead of ending it.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

// TestRequireNetem: a probe that says no skips on a kernel without
// sch_netem and fails on one that has it (as a module or loaded); a probe
// that says yes does neither.
func TestRequireNetem(t *testing.T) {
	root := t.TempDir()
	SysModuleDir, ModulesDir, OSRelease = filepath.Join(root, "sys"), filepath.Join(root, "lib"), filepath.Join(root, "osrelease")
	os.WriteFile(OSRelease, []byte("6.1.0-test\n"), 0o644)
	os.MkdirAll(filepath.Join(ModulesDir, "6.1.0-test"), 0o755)
	no := func() error { return errors.New("Error: Specified qdisc kind is unknown") }

	var tb fakeTB
	RequireNetem(&tb, no)
	if tb.skip == "" || tb.fatal != "" {
		t.Errorf("no sch_netem anywhere: skip %q, fatal %q; want a skip", tb.skip, tb.fatal)
	}
	os.WriteFile(filepath.Join(ModulesDir, "6.1.0-test", "modules.dep"), []byte("kernel/net/sched/sch_netem.ko:\nkernel/net/sched/sch_tbf.ko:\n"), 0o644)
	tb = fakeTB{}
	RequireNetem(&tb, no)
	if tb.fatal == "" || !strings.Contains(tb.fatal, "modules.dep") {
		t.Errorf("sch_netem a module, probe says no: fatal %q; want a failure naming modules.dep", tb.fatal)
	}
	os.MkdirAll(filepath.Join(SysModuleDir, "sch_netem"), 0o755)
	tb = fakeTB{}
	RequireNetem(&tb, func() error { return nil })
	if tb.fatal != "" || tb.skip != "" {
		t.Errorf("probe says yes: fatal %q, skip %q", tb.fatal, tb.skip)
	}
}

// TestReadRecorded reads a run directory with gzipped samples.
func TestReadRecorded(t *testing.T) {
	dir := t.TempDir()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(`{"t":1,"side":"sender","conn":0,"source":"getsockopt","tcp_info":{},"queues":{},"mem":{}}` + "\n"))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "samples.jsonl.gz"), zb.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "events.jsonl"), []byte(`{"t":2,"side":"receiver","conn":0,"client":0,"event":"connected"}`+"\n"), 0o644)
	samples, events := ReadRecorded(t, dir)
	if len(samples) != 1 || samples[0].Side != "sender" || len(events) != 1 || events[0].Kind != "connected" {
		t.Errorf("samples %+v, events %+v", samples, events)
	}
}
