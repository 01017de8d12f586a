package lab

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tcplab/tcplab/record"
	"golang.org/x/sys/unix"
)

// hostClock is what the host's CPU accounting said at one moment: the time
// tasks waited for a CPU (PSI's "some" total, µs) and the jiffies of every
// CPU state and of steal (/proc/stat).
type hostClock struct {
	at             time.Time
	pressureUS     int64 // -1: no /proc/pressure/cpu
	jiffies, steal int64
	selfCPU        time.Duration // this process's user + system time
}

func readHostClock() hostClock {
	c := hostClock{at: time.Now(), pressureUS: -1}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		c.selfCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, f := range strings.Fields(string(bytes.SplitN(b, []byte("\n"), 2)[0])) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				c.pressureUS, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		for i := 1; i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			c.jiffies += v
			if i == 8 {
				c.steal = v
			}
		}
	}
	return c
}

// hostHealth is the host's CPU health between two readings: the share of
// the time some task waited for a CPU, the share stolen by the hypervisor,
// and the cores tcplab's own process used (the peers are processes of
// their own and account for themselves).
func hostHealth(a, b hostClock) *record.HostHealth {
	h := &record.HostHealth{CPUPressure: -1, Cores: runtime.NumCPU()}
	if wall := b.at.Sub(a.at).Microseconds(); wall > 0 && a.pressureUS >= 0 && b.pressureUS >= a.pressureUS {
		h.CPUPressure = float64(b.pressureUS-a.pressureUS) / float64(wall)
	}
	if wall := b.at.Sub(a.at); wall > 0 {
		h.LabCPU = float64(b.selfCPU-a.selfCPU) / float64(wall)
	}
	if d := b.jiffies - a.jiffies; d > 0 {
		h.Steal = float64(b.steal-a.steal) / float64(d)
	}
	return h
}
