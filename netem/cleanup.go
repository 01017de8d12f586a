package netem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pidsInNamespace returns the processes whose network namespace is the named one.
func pidsInNamespace(name string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join(NetnsDir, name), &want); err != nil {
		return nil, fmt.Errorf("stat namespace %s: %w", name, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil {
			continue
		}
		if st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killProcsInNamespace kills every process inside the named namespace and
// waits up to two seconds for them to go.
func killProcsInNamespace(name string) error {
	pids, err := pidsInNamespace(name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		pids, _ = pidsInNamespace(name)
	}
	if len(pids) > 0 {
		return fmt.Errorf("processes %v still in namespace %s after SIGKILL", pids, name)
	}
	return nil
}

// Leftover is one run that crashed and left its namespaces or slot behind.
type Leftover struct {
	RunID      string
	Namespaces []string
	Slot       int // -1: no slot file
	Processes  []int
}

// FindLeftovers lists runs whose namespaces or address slots exist while the
// process that made them is gone. Live runs (their owner still runs) are not
// listed.
func FindLeftovers() ([]Leftover, error) {
	runs := map[string]*Leftover{}
	get := func(id string) *Leftover {
		if runs[id] == nil {
			runs[id] = &Leftover{RunID: id, Slot: -1}
		}
		return runs[id]
	}
	live := map[string]bool{}
	slots, err := os.ReadDir(slotDir())
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list %s: %w", slotDir(), err)
	}
	for _, s := range slots {
		n, err := strconv.Atoi(s.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(slotDir(), s.Name()))
		if err != nil {
			continue
		}
		o, err := parseOwner(string(b))
		if err != nil {
			// A record still being written (or garbage): leave it unless old.
			if info, e := s.Info(); e == nil && time.Since(info.ModTime()) > time.Minute {
				os.Remove(filepath.Join(slotDir(), s.Name()))
			}
			continue
		}
		if o.alive() {
			live[o.RunID] = true
			continue
		}
		get(o.RunID).Slot = n
	}
	nss, err := os.ReadDir(NetnsDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list %s: %w", NetnsDir, err)
	}
	for _, e := range nss {
		name := e.Name()
		if !strings.HasPrefix(name, Prefix) {
			continue
		}
		rest := strings.TrimPrefix(name, Prefix)
		i := strings.LastIndexByte(rest, '-')
		if i <= 0 {
			continue
		}
		id := rest[:i]
		if live[id] {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) < 5*time.Second && !hasSlotFile(id) {
			// A run between creating its slot and its namespaces cannot be
			// told from a crash for a moment: leave very young ones alone.
			continue
		}
		l := get(id)
		l.Namespaces = append(l.Namespaces, name)
		if pids, err := pidsInNamespace(name); err == nil {
			l.Processes = append(l.Processes, pids...)
		}
	}
	out := make([]Leftover, 0, len(runs))
	for _, l := range runs {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out, nil
}

func hasSlotFile(runID string) bool {
	slots, _ := os.ReadDir(slotDir())
	for _, s := range slots {
		b, err := os.ReadFile(filepath.Join(slotDir(), s.Name()))
		if err == nil && strings.HasPrefix(string(b), runID+" ") {
			return true
		}
	}
	return false
}

// RemoveLeftover kills the leftover's processes, removes its namespaces (and
// with them its links and qdiscs) and releases its address slot.
func RemoveLeftover(l Leftover) error {
	var errs []error
	for _, ns := range l.Namespaces {
		if err := killProcsInNamespace(ns); err != nil {
			errs = append(errs, err)
		}
		if err := deleteNamed(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if l.Slot >= 0 {
		if err := freeSlot(l.Slot); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
