// Package labtest is the one home of helpers for tcplab's tests: the
// privilege, kernel and leftover checks every package with live runs needs,
// reading a recorded run, and compiling a JSON Schema with a library of
// someone else's. It imports only record and tcpinfo of tcplab's, so the
// tests of every other package can use it (netem passes its probe in).
package labtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
)

// RequireRoot skips a test that builds namespaces when not run as root,
// saying why.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces")
	}
}

// Where runs leave their traces: namespace files and address slots (the
// defaults of package netem; a rootless run keeps its own in private).
var (
	NetnsDir = "/run/netns"
	SlotDir  = "/run/tcplab/slots"
)

// Where the kernel shows its modules (KernelHasNetem reads them).
var (
	SysModuleDir = "/sys/module"
	ModulesDir   = "/lib/modules"
	OSRelease    = "/proc/sys/kernel/osrelease"
)

// Leftovers lists what run runID left on the host: its namespaces and its
// address slot.
func Leftovers(runID string) []string {
	var out []string
	ents, _ := os.ReadDir(NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tcplab-"+runID+"-") {
			out = append(out, "namespace "+e.Name())
		}
	}
	slots, _ := os.ReadDir(SlotDir)
	for _, s := range slots {
		b, err := os.ReadFile(filepath.Join(SlotDir, s.Name()))
		if err == nil && strings.HasPrefix(string(b), runID+" ") {
			out = append(out, "address slot "+s.Name())
		}
	}
	return out
}

// AssertNoLeftovers fails the test when run runID left a namespace or its
// address slot behind.
func AssertNoLeftovers(tb testing.TB, runID string) {
	tb.Helper()
	for _, l := range Leftovers(runID) {
		tb.Errorf("run %s left its %s behind", runID, l)
	}
}

// RequireNetem skips a test that needs the kernel's sch_netem on a kernel
// that does not have it, and fails it on a kernel that does when probe (the
// code's own check, like netem.HaveQdisc("netem")) still says no: a probe
// that is wrong must not turn the kernel backend's tests into skips.
func RequireNetem(tb testing.TB, probe func() error) {
	tb.Helper()
	err := probe()
	if err == nil {
		return
	}
	if where := KernelHasNetem(); where != "" {
		tb.Fatalf("this kernel has sch_netem (%s), but the probe says: %v", where, err)
	}
	tb.Skipf("this kernel has no sch_netem (no module, not built in): %v", err)
}

// KernelHasNetem says where this kernel shows that it has sch_netem —
// loaded, built in, or a module it can load — or "" when it shows none.
func KernelHasNetem() string {
	if p := filepath.Join(SysModuleDir, "sch_netem"); exists(p) {
		return p
	}
	rel, err := os.ReadFile(OSRelease)
	if err != nil {
		return ""
	}
	dir := filepath.Join(ModulesDir, strings.TrimSpace(string(rel)))
	for _, f := range []string{"modules.builtin", "modules.dep"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil && strings.Contains(string(b), "/sch_netem.ko") {
			return filepath.Join(dir, f)
		}
	}
	return ""
}

// ReadRecorded reads a run directory's samples and events (each may be
// gzipped: samples.jsonl.gz), failing the test when either is missing or
// cannot be read.
func ReadRecorded(tb testing.TB, dir string) ([]tcpinfo.Sample, []record.Event) {
	tb.Helper()
	find := func(name string) string {
		if p := filepath.Join(dir, name); exists(p) {
			return p
		}
		return filepath.Join(dir, name+".gz")
	}
	samples, err := record.ReadSamples(find(record.FileSamples))
	if err != nil {
		tb.Fatal(err)
	}
	events, err := record.ReadEvents(find(record.FileEvents))
	if err != nil {
		tb.Fatal(err)
	}
	return samples, events
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// CompileSchema compiles a JSON Schema document (name is its resource
// name in errors) with santhosh-tekuri/jsonschema: generated schemas are
// checked by someone else's reading of the standard.
func CompileSchema(tb testing.TB, name string, b []byte) *jsonschema.Schema {
	tb.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		tb.Fatal(err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		tb.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

// SquareTrace is a mahimahi trace (one line per delivery opportunity of a
// 1500-byte packet, its time in whole ms) of highMbit for the first half of
// each period and lowMbit for the second; its last line is at the period's
// end, so that it loops every 2 × half.
func SquareTrace(highMbit, lowMbit float64, half time.Duration) string {
	var b strings.Builder
	halfMs := int(half / time.Millisecond)
	carry := 0.0
	for ms := 1; ms <= 2*halfMs; ms++ {
		rate := highMbit
		if ms > halfMs {
			rate = lowMbit
		}
		carry += rate * 1e6 / 8 / 1500 / 1000 // opportunities this ms
		if ms == 2*halfMs && carry < 1 {
			carry = 1 // the last ms has a line: the trace's length is its last line's time
		}
		for ; carry >= 1; carry-- {
			fmt.Fprintln(&b, ms)
		}
	}
	return b.String()
}
