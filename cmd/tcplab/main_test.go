package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/internal/testlock"
	"github.com/tcplab/tcplab/lab"
	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenarios"
)

const asMainEnv = "TCPLAB_TEST_AS_MAIN"

// TestMain makes this test binary act as tcplab itself (when asMainEnv is
// set) and as its peer children, so the tests run the real command line.
func TestMain(m *testing.M) {
	netem.EnterRootless()
	peers.MaybeRunChild()
	lab.MaybeRunPoint()
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(int(run(os.Args[1:])))
	}
	os.Exit(testlock.Main(m.Run))
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func tcplabCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

func runTcplab(t *testing.T, args ...string) result {
	t.Helper()
	cmd := tcplabCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(t0)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func slotHeld(runID string) bool {
	slots, _ := os.ReadDir("/run/tcplab/slots")
	for _, s := range slots {
		b, _ := os.ReadFile(filepath.Join("/run/tcplab/slots", s.Name()))
		if strings.HasPrefix(string(b), runID+" ") {
			return true
		}
	}
	return false
}

// reportRunID reads the run id from a run directory's report.json.
func reportRunID(t *testing.T, dir string) string {
	t.Helper()
	var rep struct {
		Run struct {
			RunID   string `json:"run_id"`
			Stopped string `json:"stopped"`
		} `json:"run"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Run.RunID
}

// peerProcesses lists live peer children started from this test binary.
func peerProcesses() []int {
	self, _ := os.Executable()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != self {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if bytes.Contains(env, []byte(peers.ChildEnv+"=1")) {
			out = append(out, pid)
		}
	}
	return out
}

// assertClean checks that run runID left no namespace, no address slot and
// no peer process of this test binary.
func assertClean(t *testing.T, runID string) {
	t.Helper()
	if runID == "" {
		t.Fatal("no run id to check")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		ns, procs := netem.RunNamespaces(runID), peerProcesses()
		if len(ns) == 0 && len(procs) == 0 && !slotHeld(runID) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s left behind: namespaces %v, peer processes %v, slot held %v", runID, ns, procs, slotHeld(runID))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestQuickstartNoFile is what a newcomer types first: `tcplab run`.
func TestQuickstartNoFile(t *testing.T) {
	labtest.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "run")
	r := runTcplab(t, "run", "--out", out)
	t.Logf("tcplab run (3 s quickstart) took %v\n%s%s", r.elapsed, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if !strings.Contains(r.stdout, "VERDICT: receiver-limited") || !strings.Contains(r.stdout, "PASS  verdict == receiver-limited") {
		t.Errorf("quickstart output lacks its verdict")
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"stopped": "completed"`)) {
		t.Errorf("report.json does not say completed")
	}
	assertClean(t, reportRunID(t, out))
	// -o json prints report.json itself, for scripts.
	out2 := filepath.Join(t.TempDir(), "run")
	j := runTcplab(t, "run", "-q", "-o", "json", "quickstart", "--out", out2)
	b2, _ := os.ReadFile(filepath.Join(out2, "report.json"))
	var v map[string]any
	if j.code != 0 || j.stdout != string(b2) || json.Unmarshal([]byte(j.stdout), &v) != nil {
		t.Errorf("tcplab run -o json: exit %d, stdout is not report.json (%d vs %d bytes)", j.code, len(j.stdout), len(b2))
	}
}

// TestBadMetricsAddress: an address --metrics cannot listen on is a setup
// error (exit 2) that names the flag, and leaves nothing behind.
func TestBadMetricsAddress(t *testing.T) {
	labtest.RequireRoot(t)
	r := runTcplab(t, "run", "-q", "--metrics", "256.1.1.1:9464", "--out", filepath.Join(t.TempDir(), "run"))
	if r.code != 2 || !strings.Contains(r.stderr, "--metrics") {
		t.Errorf("exit %d, want 2 naming --metrics\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestExpectationFailedExit1(t *testing.T) {
	labtest.RequireRoot(t)
	f := writeFile(t, "wrong.yaml", "name: wrong\nduration: 2s\nsender: { rate: 2mbit }\nexpect:\n  - verdict == network-limited\n")
	out := filepath.Join(t.TempDir(), "run")
	r := runTcplab(t, "run", "-q", f, "--out", out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "FAIL  verdict == network-limited (actual: sender-limited)") {
		t.Errorf("failure not shown as expected vs actual:\n%s", r.stdout)
	}
	assertClean(t, reportRunID(t, out))
	if r.stderr != "" {
		t.Errorf("-q still wrote notes on stderr:\n%s", r.stderr)
	}

	// The run directory renders again without root: same report.json,
	// the same exit code, JSON for scripts, and a comparison.
	before, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	rr := runTcplab(t, "report", out)
	if rr.code != 1 || !strings.Contains(rr.stdout, "FAIL  verdict == network-limited") {
		t.Errorf("tcplab report: exit %d\n%s%s", rr.code, rr.stdout, rr.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if !bytes.Equal(before, after) {
		t.Error("tcplab report changed report.json")
	}
	js := runTcplab(t, "report", out, "-o", "json")
	if !bytes.Equal([]byte(js.stdout), before) {
		t.Errorf("tcplab report -o json does not print report.json (%d vs %d bytes)", len(js.stdout), len(before))
	}
	cmp := runTcplab(t, "report", out, "--compare", out)
	if cmp.code != 0 || !strings.Contains(cmp.stdout, "verdict") || !strings.Contains(cmp.stdout, "sender-limited") || strings.Contains(cmp.stdout, "≠") {
		t.Errorf("tcplab report --compare of a run with itself: exit %d\n%s%s", cmp.code, cmp.stdout, cmp.stderr)
	}
	for _, f := range []string{"summary.md", "junit.xml", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	bad := runTcplab(t, "report", t.TempDir())
	if bad.code != 2 || !strings.Contains(bad.stderr, "not a run directory") {
		t.Errorf("tcplab report on an empty directory: exit %d\n%s", bad.code, bad.stderr)
	}
}

func TestValidate(t *testing.T) {
	good := writeFile(t, "good.yaml", "name: good\nlink: { down: { rate: 10mbit } }\n")
	bad := writeFile(t, "bad.yaml", "name: bad\nlink:\n  down: { rate: 10 potatoes }\n")
	r := runTcplab(t, "validate", good, "../../scenarios/quickstart.yaml")
	if r.code != 0 || strings.Count(r.stdout, ": ok") != 2 {
		t.Errorf("validate good files: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runTcplab(t, "validate", good, bad)
	if r.code != 2 || !strings.Contains(r.stderr, bad+":3:17: link.down.rate:") {
		t.Errorf("validate bad file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runTcplab(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("validate missing file: exit %d\n%s", r.code, r.stderr)
	}
	r = runTcplab(t, "run", bad)
	if r.code != 2 || !strings.Contains(r.stderr, "bad.yaml:3:17") {
		t.Errorf("run bad file: exit %d\n%s", r.code, r.stderr)
	}
}

// copyForOtherUsers copies this test binary into a fresh directory that
// other users may enter (a test's own temporary directory is private).
func copyForOtherUsers(t *testing.T) (dir, exe string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcplab-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe = filepath.Join(dir, "tcplab.test")
	self, _ := os.ReadFile(os.Args[0])
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

// TestValidateWithoutRoot runs validate as an unprivileged user.
func TestValidateWithoutRoot(t *testing.T) {
	labtest.RequireRoot(t)
	dir, exe := copyForOtherUsers(t)
	f := filepath.Join(dir, "s.yaml")
	os.WriteFile(f, []byte("name: s\nduration: 2s\n"), 0o644)
	cmd := exec.Command(exe, "validate", f)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("validate as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "s.yaml: ok") {
		t.Errorf("output: %s", out)
	}
	// doctor as a user says whether it may run without sudo, and probes
	// from inside the user namespace a rootless run would use.
	cmd = exec.Command(exe, "doctor")
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	if netem.RootlessCheck() == nil && (err != nil || !strings.Contains(string(out), "probing from inside one") || !strings.Contains(string(out), "root of its own user namespace (rootless)")) {
		t.Errorf("doctor as uid 65534: %v\n%s", err, out)
	}
	// A rootless run cannot serve --metrics to the host: it says so.
	cmd = exec.Command(exe, "run", f, "--metrics", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--metrics needs root") {
		t.Errorf("run --metrics as uid 65534: %v\n%s", err, out)
	}
}

// TestRootlessQuickstart: an unprivileged user (created for the test) runs
// the quickstart without sudo: tcplab runs itself inside a new user +
// network namespace, the run passes, its files belong to the user, and
// nothing is left in the host's namespaces or /tmp.
func TestRootlessQuickstart(t *testing.T) {
	labtest.RequireRoot(t)
	if err := netem.RootlessCheck(); err != nil {
		t.Skipf("the host forbids unprivileged user namespaces: %v", err)
	}
	uid, gid := 65534, 65534
	const name = "tcplab-rootless"
	if _, err := exec.LookPath("useradd"); err == nil {
		if _, err := user.Lookup(name); err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
				t.Fatalf("useradd: %v\n%s", err, out)
			}
			t.Cleanup(func() { exec.Command("userdel", name).Run() })
		}
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	} else {
		t.Logf("no useradd here: running as nobody (65534)")
	}
	dir, exe := copyForOtherUsers(t)
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o755)
	os.Chown(work, uid, gid)
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "tcplab-rootless-*"))
	cmd := exec.Command(exe, "run", "-q", "--out", filepath.Join(work, "q"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), asMainEnv+"=1", "HOME="+work)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart as uid %d: %v\n%s", uid, err, out)
	}
	if !strings.Contains(string(out), "PASS  verdict == receiver-limited") {
		t.Errorf("quickstart as uid %d did not pass its expectation:\n%s", uid, out)
	}
	fi, err := os.Stat(filepath.Join(work, "q", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("report.json belongs to uid %d, want the user's %d", st.Uid, uid)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "tcplab-rootless-*"))
	if len(after) > len(before) {
		t.Errorf("private state directories left behind: %v", after)
	}
	if left, _ := filepath.Glob(filepath.Join(netem.NetnsDir, netem.Prefix+"*")); len(left) > 0 {
		t.Errorf("namespaces in the host's %s after a rootless run: %v", netem.NetnsDir, left)
	}

	// A rootless run killed with -9 leaves its private directory; tcplab
	// cleanup, run as that user, removes it (its child died with it).
	asUser := func(args ...string) *exec.Cmd {
		c := exec.Command(exe, args...)
		c.Dir = work
		c.Env = append(os.Environ(), asMainEnv+"=1", "HOME="+work)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		return c
	}
	long := filepath.Join(work, "long.yaml")
	if err := os.WriteFile(long, []byte("name: long\nduration: 20s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	killed := asUser("run", "-q", long, "--out", filepath.Join(work, "killed"))
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	leftover, _ := filepath.Glob(filepath.Join(os.TempDir(), "tcplab-rootless-*"))
	if len(leftover) <= len(before) {
		t.Fatalf("a rootless run killed with -9 left no private directory to clean up (the test proves nothing)")
	}
	out, err = asUser("cleanup").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rootless run: removed its private directory") {
		t.Errorf("cleanup as uid %d: %v\n%s", uid, err, out)
	}
	after, _ = filepath.Glob(filepath.Join(os.TempDir(), "tcplab-rootless-*"))
	if len(after) > len(before) {
		t.Errorf("private state directories left after cleanup: %v", after)
	}
}

// startRun starts `tcplab run` of a long scenario and waits until its lab exists.
func startRun(t *testing.T, out string) (*exec.Cmd, *bytes.Buffer, string) {
	t.Helper()
	f := writeFile(t, "long.yaml", "name: long\nduration: 20s\nreceiver: { read: { rate: 2MB/s } }\n")
	cmd := tcplabCmd("run", "-q", f, "--out", out)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var id string
	for {
		if runs := netem.RunsOwnedBy(cmd.Process.Pid); len(runs) == 1 {
			id = runs[0]
		}
		if id != "" && len(netem.RunNamespaces(id)) == 2 && len(peerProcesses()) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("run did not build its lab:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // let traffic flow
	return cmd, &buf, id
}

func TestSIGINTStopsCleanly(t *testing.T) {
	labtest.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "run")
	cmd, buf, id := startRun(t, out)
	t0 := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	t.Logf("stopped %v after SIGINT: %v\n%s", time.Since(t0), err, buf.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("exit %v, want 2 (run did not complete)", err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal("no report after SIGINT:", err)
	}
	if !bytes.Contains(b, []byte(`"stopped": "interrupted`)) {
		t.Errorf("report does not say the run was interrupted")
	}
	if !strings.Contains(buf.String(), "VERDICT") {
		t.Errorf("no summary printed after SIGINT")
	}
	assertClean(t, id)
}

func TestKill9ThenCleanup(t *testing.T) {
	labtest.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "run")
	cmd, _, id := startRun(t, out)
	// A live run is not cleanup's business.
	r := runTcplab(t, "cleanup", "--dry-run")
	if r.code != 0 || strings.Contains(r.stdout, id) || len(netem.RunNamespaces(id)) != 2 {
		t.Fatalf("cleanup touched a live run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if ns := netem.RunNamespaces(id); len(ns) != 2 {
		t.Fatalf("after kill -9 expected the lab's 2 namespaces to remain, found %v", ns)
	}
	r = runTcplab(t, "cleanup", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "run "+id+": would remove") || len(netem.RunNamespaces(id)) != 2 {
		t.Fatalf("cleanup --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runTcplab(t, "cleanup")
	t.Logf("%s%s", r.stdout, r.stderr)
	if r.code != 0 || !strings.Contains(r.stdout, "run "+id+": removed") {
		t.Errorf("cleanup: exit %d", r.code)
	}
	assertClean(t, id)
	r = runTcplab(t, "cleanup", "--dry-run")
	if r.code != 0 || strings.Contains(r.stdout, id) {
		t.Errorf("second cleanup still sees run %s: exit %d\n%s", id, r.code, r.stdout)
	}
}

func TestDoctor(t *testing.T) {
	labtest.RequireRoot(t)
	r := runTcplab(t, "doctor")
	t.Logf("\n%s", r.stdout)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"rootless", "privileges", "network namespaces", "veth", "tun", "tbf (sch_tbf)", "netem (sch_netem)", "kernel", "tcp_info length", "link backend for auto: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor does not report %q", want)
		}
	}
	// The backend auto uses follows the netem probe (by its Feature, not
	// its name's text).
	want := "link backend for auto: userspace"
	if netem.HaveQdisc("netem") == nil {
		want = "link backend for auto: netem"
	}
	if !strings.Contains(r.stdout, want) {
		t.Errorf("doctor does not say %q", want)
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := runTcplab(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "tcplab ") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
	r = runTcplab(t, "--help")
	for _, c := range []string{"run", "validate", "doctor", "cleanup", "version", "Exit codes"} {
		if !strings.Contains(r.stdout, c) {
			t.Errorf("--help lacks %q", c)
		}
	}
	// Every command, subcommands and the root included, shows an example.
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" && c.Example == "" {
			t.Errorf("command %q has no example in its help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if !strings.Contains(r.stdout, "Examples:") {
		t.Error("tcplab --help shows no examples")
	}
	r = runTcplab(t, "frobnicate")
	if r.code != 2 {
		t.Errorf("unknown command: exit %d", r.code)
	}
}

// TestExporter serves the sockets of a live run's receiver namespace.
func TestExporter(t *testing.T) {
	labtest.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "run")
	run, _, id := startRun(t, out)
	defer func() {
		run.Process.Signal(os.Interrupt)
		run.Wait()
		assertClean(t, id)
	}()
	ns := netem.NamespaceName(id, "rcv")
	// Not the defaults: windows of half a second sampled every 50 ms.
	cmd := tcplabCmd("exporter", "--netns", ns, "--listen", "127.0.0.1:0", "--interval", "50ms", "--window", "500ms")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://(\S+)/metrics`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("exporter said %q", line)
	}
	// The verdict: the receiver (reading 2 MB/s of a bulk feed) is
	// receiver-limited, judged from its own end, window after window.
	limited := regexp.MustCompile(`tcplab_tcp_limited_seconds_total\{class="receiver-limited",local="[^"]+",netns="` + regexp.QuoteMeta(ns) + `",remote="[^"]+"\} (\S+)`)
	var body []byte
	seconds := 0.0
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline) && seconds < 2; time.Sleep(500 * time.Millisecond) {
		resp, err := http.Get("http://" + m[1] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if v := limited.FindSubmatch(body); v != nil {
			seconds, _ = strconv.ParseFloat(string(v[1]), 64)
		}
	}
	if !strings.Contains(string(body), `tcplab_tcp_unread_bytes{cong=`) || !strings.Contains(string(body), `netns="`+ns+`"`) {
		t.Errorf("exporter output lacks the receiver's socket:\n%.2000s", body)
	}
	if seconds < 2 || !strings.Contains(string(body), `class="network-limited"`) {
		t.Errorf("receiver-limited seconds %.1f, want 2 or more after 8 s (and every class exported):\n%s", seconds, grepLines(body, "limited_seconds"))
	}
	if r := runTcplab(t, "exporter", "--netns", "tcplab-nosuch-rcv"); r.code != 2 || !strings.Contains(r.stderr, "tcplab-nosuch-rcv") {
		t.Errorf("unknown namespace: exit %d %s", r.code, r.stderr)
	}
	if r := runTcplab(t, "exporter", "--netns", ns, "--listen", "127.0.0.1:0", "--interval", "100ms", "--window", "150ms"); r.code != 2 || !strings.Contains(r.stderr, "--window 150ms: at least two sampling intervals") {
		t.Errorf("a window shorter than two intervals: exit %d %s", r.code, r.stderr)
	}
}

// grepLines is the lines of b that hold s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSweepCLI: a file with a matrix runs as a sweep, in shards, and the
// shards merge; a merge missing a shard says so (exit 2).
func TestSweepCLI(t *testing.T) {
	labtest.RequireRoot(t)
	f := writeFile(t, "sw.yaml", "name: sw\nduration: 2s\nsender: { listen: true, rate: 1mbit }\nmatrix:\n  sender.rate: [1mbit, 2mbit]\n")
	v := runTcplab(t, "validate", f)
	if v.code != 0 || !strings.Contains(v.stdout, "a sweep of 2 points") {
		t.Fatalf("validate: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	base := t.TempDir()
	for _, sh := range []string{"1/2", "2/2"} {
		r := runTcplab(t, "run", "-q", f, "--shard", sh, "--out", filepath.Join(base, strings.Replace(sh, "/", "of", 1)))
		if r.code != 0 || !strings.Contains(r.stdout, "1 points (shard "+sh) {
			t.Fatalf("shard %s: exit %d\n%s%s", sh, r.code, r.stdout, r.stderr)
		}
	}
	m := runTcplab(t, "report", "merge", filepath.Join(base, "1of2"), filepath.Join(base, "2of2"), "--out", filepath.Join(base, "all"))
	if m.code != 0 || !strings.Contains(m.stdout, "2 points") || !strings.Contains(m.stdout, "p00 sender.rate=1mbit") || !strings.Contains(m.stdout, "p01 sender.rate=2mbit") {
		t.Fatalf("merge: exit %d\n%s%s", m.code, m.stdout, m.stderr)
	}
	if _, err := os.Stat(filepath.Join(base, "all", "sweep.md")); err != nil {
		t.Error(err)
	}
	half := runTcplab(t, "report", "merge", filepath.Join(base, "1of2"))
	if half.code != 2 || !strings.Contains(half.stderr, "1 of the sweep's 2 points") {
		t.Errorf("merge of one shard: exit %d\n%s", half.code, half.stderr)
	}
	// --parallel below the point count: the two points run one after the other.
	seq := runTcplab(t, "run", "-q", f, "--parallel", "1", "--out", filepath.Join(base, "seq"))
	if seq.code != 0 || !strings.Contains(seq.stdout, "2 points, 1 at a time") || seq.elapsed < 4*time.Second {
		t.Errorf("--parallel 1: exit %d after %v\n%s%s", seq.code, seq.elapsed, seq.stdout, seq.stderr)
	}
	bad := runTcplab(t, "run", f, "--shard", "3/2")
	if bad.code != 2 || !strings.Contains(bad.stderr, "1 ≤ i ≤ n") {
		t.Errorf("--shard 3/2: exit %d\n%s", bad.code, bad.stderr)
	}
}

// TestLibraryCommands: tcplab scenarios lists every embedded scenario with
// its description and prints one by name; tcplab init writes a starter that
// validates, refuses to overwrite, and starts from an embedded one with
// --from; tcplab schema prints the schema the docs hold.
func TestLibraryCommands(t *testing.T) {
	r := runTcplab(t, "scenarios")
	if r.code != 0 {
		t.Fatalf("scenarios: exit %d: %s", r.code, r.stderr)
	}
	for _, name := range scenarios.Names() {
		b, _ := scenarios.Read(name)
		s, err := scenario.ParseSweep(name+".yaml", b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, s.Points[0].Scenario.Description) {
			t.Errorf("tcplab scenarios lacks %s or its description", name)
		}
		if name == "nat-idle-timeout" && !strings.Contains(r.stdout, "14s × 4 points") {
			t.Errorf("a sweep's length is not shown:\n%s", r.stdout)
		}
	}
	r = runTcplab(t, "scenarios", "lossy-long-path")
	if b, _ := scenarios.Read("lossy-long-path"); r.code != 0 || r.stdout != string(b) {
		t.Errorf("tcplab scenarios lossy-long-path: exit %d, output differs from the embedded file", r.code)
	}
	if r = runTcplab(t, "scenarios", "nope"); r.code != 2 || !strings.Contains(r.stderr, "embedded: busy-connection-blackhole") {
		t.Errorf("unknown name: exit %d: %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	if r = runTcplab(t, "init", f); r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	if s, err := scenario.Load(f); err != nil || s.Name != "s" {
		t.Errorf("the starter does not validate, or is not named after its file: %v", err)
	}
	// Never written through a link (tcplab may run as root).
	outside := filepath.Join(dir, "outside")
	os.WriteFile(outside, []byte("precious"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link.yaml"))
	if r = runTcplab(t, "init", filepath.Join(dir, "link.yaml"), "--force"); r.code != 2 || !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("init over a link: exit %d: %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Errorf("init wrote through a link")
	}
	if b, _ := os.ReadFile(f); !strings.HasPrefix(string(b), "# yaml-language-server: $schema="+scenario.SchemaURL) {
		t.Errorf("the starter lacks the schema modeline")
	}
	if r = runTcplab(t, "init", f); r.code != 2 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("init over an existing file: exit %d: %s", r.code, r.stderr)
	}
	if r = runTcplab(t, "init", f, "--force", "--from", "nat-idle-timeout"); r.code != 0 {
		t.Fatalf("init --from: exit %d: %s", r.code, r.stderr)
	}
	if sw, err := scenario.LoadSweep(f); err != nil || len(sw.Points) != 4 {
		t.Errorf("init --from nat-idle-timeout: %v", err)
	}
	// A directory that is not a run's: refused, nothing written.
	notRun := t.TempDir()
	out := filepath.Join(dir, "inferred.yaml")
	if r = runTcplab(t, "init", out, "--from", notRun); r.code != 2 || !strings.Contains(r.stderr, "not a run directory") {
		t.Errorf("init --from a directory with no run: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("init --from a directory with no run wrote a file")
	}
	// A path that is not there, a file, a name that is neither: each says
	// what it took the argument for, and writes nothing.
	for _, c := range []struct{ from, says string }{
		{filepath.Join(dir, "gone", "run"), "no such run directory"},
		{f, "is a file; give a run directory"},
		{"nosuch-scenario", "no such run directory here, nor embedded scenario; embedded: busy-connection-blackhole"},
	} {
		if r = runTcplab(t, "init", out, "--from", c.from); r.code != 2 || !strings.Contains(r.stderr, c.says) {
			t.Errorf("init --from %s: exit %d: %s", c.from, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused init --from wrote a file")
	}
	r = runTcplab(t, "schema")
	if docs, _ := os.ReadFile("../../docs/scenario.schema.json"); r.code != 0 || r.stdout != string(docs) {
		t.Errorf("tcplab schema differs from docs/scenario.schema.json (exit %d)", r.code)
	}
}
