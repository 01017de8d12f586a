package lab

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// OrphanPoint is a sweep's point still running whose sweep is gone.
type OrphanPoint struct {
	PID    int
	Dir    string // its run directory
	Parent int    // the sweep it was started by
}

// FindOrphanPoints lists the processes started as a sweep's point (they
// carry PointEnv and ParentEnv from their start) whose parent is no longer
// that sweep: a sweep killed with -9 before they noticed.
func FindOrphanPoints() []OrphanPoint {
	ents, _ := os.ReadDir("/proc")
	var out []OrphanPoint
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte(PointEnv+"=")) {
			continue
		}
		var dir string
		parent := 0
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case PointEnv:
				dir = v
			case ParentEnv:
				parent, _ = strconv.Atoi(v)
			}
		}
		if dir == "" || parent == 0 {
			continue
		}
		if ppid, err := parentOf(pid); err == nil && ppid != parent {
			out = append(out, OrphanPoint{PID: pid, Dir: dir, Parent: parent})
		}
	}
	return out
}

// parentOf reads a process's parent pid from /proc/PID/stat.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return strconv.Atoi(f[1])
}

// orphanGrace is how long an orphaned point gets to end after SIGTERM: it
// stops its peers, removes its lab and writes its report.
const orphanGrace = 20 * time.Second

// EndOrphanPoint asks the point to end (SIGTERM) and kills it if it has not
// within orphanGrace. It says whether the point had to be killed (its lab
// is then for tcplab cleanup's removal of leftovers).
func EndOrphanPoint(p OrphanPoint) (killed bool) {
	gone := func() bool {
		ppid, err := parentOf(p.PID)
		return err != nil || ppid == 0 || isZombie(p.PID)
	}
	syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(orphanGrace)
	for !gone() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if gone() {
		return false
	}
	syscall.Kill(p.PID, syscall.SIGKILL)
	for end := time.Now().Add(2 * time.Second); !gone() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
