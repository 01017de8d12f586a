package lab

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestEndOrphanPoint: a process started as a sweep's point whose parent is
// not the sweep it names is found and ended with SIGTERM; one whose parent
// is that sweep is left alone.
func TestEndOrphanPoint(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	start := func(parent int) *exec.Cmd {
		c := exec.Command("sleep", "60")
		c.Env = append(os.Environ(), PointEnv+"="+t.TempDir(), ParentEnv+"="+strconv.Itoa(parent))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	orphan := start(gone.Process.Pid)
	kept := start(os.Getpid())
	var found *OrphanPoint
	for _, p := range FindOrphanPoints() {
		switch p.PID {
		case orphan.Process.Pid:
			found = &p
		case kept.Process.Pid:
			t.Errorf("a point whose sweep runs was listed: %+v", p)
		}
	}
	if found == nil || found.Parent != gone.Process.Pid {
		t.Fatalf("the orphan was not found: %+v", found)
	}
	t0 := time.Now()
	if killed := EndOrphanPoint(*found); killed {
		t.Error("sleep needed SIGKILL; SIGTERM ends it")
	}
	if time.Since(t0) > 5*time.Second {
		t.Errorf("ending took %v", time.Since(t0))
	}
	if !isZombie(orphan.Process.Pid) {
		t.Error("the orphan still runs")
	}
	if isZombie(kept.Process.Pid) {
		t.Error("the kept point was ended")
	}
}
