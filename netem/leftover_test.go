package netem

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

func TestParseOwner(t *testing.T) {
	for _, c := range []struct {
		in   string
		want owner
		ok   bool
	}{
		{"abcd 12 34\n", owner{RunID: "abcd", PID: 12, Start: 34}, true},
		{"abcd 12 34 56\n", owner{}, false},
		{"abcd x 34\n", owner{}, false},
	} {
		got, err := parseOwner(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseOwner(%q) = %+v, %v", c.in, got, err)
		}
		if c.ok && got.String() != c.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

// TestRootlessLeftovers: a rootless run's private directory whose process
// is gone is found (and removed); one whose process runs, a link by that
// name, and someone else's directory are not.
func TestRootlessLeftovers(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	st, _ := procStartTime(os.Getpid())
	mk := func(name string, o *owner) string {
		d := filepath.Join(tmp, name)
		os.MkdirAll(filepath.Join(d, "netns"), 0o700)
		if o != nil {
			os.WriteFile(filepath.Join(d, rootlessOwnerFile), []byte(o.String()), 0o600)
		}
		return d
	}
	dead := mk(rootlessDirPrefix+"dead", &owner{RunID: "rootless", PID: deadPID(t), Start: 1})
	live := mk(rootlessDirPrefix+"live", &owner{RunID: "rootless", PID: os.Getpid(), Start: st})
	young := mk(rootlessDirPrefix+"young", nil)
	target := t.TempDir()
	os.Symlink(target, filepath.Join(tmp, rootlessDirPrefix+"link"))
	got, err := FindRootlessLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != dead {
		t.Fatalf("found %v, want only %s", got, dead)
	}
	if err := RemoveRootlessLeftover(got[0]); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{live, young, target} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dead, err)
	}
	if err := RemoveRootlessLeftover(t.TempDir()); err == nil {
		t.Error("removed a directory not named as a rootless run's")
	}
}
