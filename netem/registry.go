package netem

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StateDir holds one file per address slot in use: slots/NNNNN, whose content
// names the run that owns it and the owning process (pid and start time), so
// `tcplab cleanup` can tell a live run from a crashed one.
var StateDir = "/run/tcplab"

// Prefix starts the name of every namespace (and every link and file) that
// tcplab creates.
const Prefix = "tcplab-"

// slotCount is the number of /30 blocks in 198.18.0.0/15.
const slotCount = 1 << 15

var labBase = netip.MustParseAddr("198.18.0.0")

// NewRunID returns a fresh random run identifier (8 hex digits).
func NewRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// SlotAddrs returns the sender's and the receiver's address of slot n: the
// first two hosts of the n-th /30 of 198.18.0.0/15.
func SlotAddrs(n int) (sender, receiver netip.Prefix) {
	base := binary.BigEndian.Uint32(labBase.AsSlice()) + uint32(n)*4
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], base+1)
	sender = netip.PrefixFrom(netip.AddrFrom4(b), 30)
	binary.BigEndian.PutUint32(b[:], base+2)
	receiver = netip.PrefixFrom(netip.AddrFrom4(b), 30)
	return
}

type owner struct {
	RunID string
	PID   int
	Start uint64 // process start time in clock ticks since boot (/proc/PID/stat field 22)
}

func (o owner) String() string { return fmt.Sprintf("%s %d %d\n", o.RunID, o.PID, o.Start) }

func parseOwner(s string) (owner, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return owner{}, fmt.Errorf("malformed slot record %q", s)
	}
	pid, err1 := strconv.Atoi(f[1])
	st, err2 := strconv.ParseUint(f[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return owner{}, fmt.Errorf("malformed slot record %q: %w", s, err)
	}
	return owner{f[0], pid, st}, nil
}

// alive reports whether the process that wrote the record still runs.
func (o owner) alive() bool {
	st, err := procStartTime(o.PID)
	return err == nil && st == o.Start
}

func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); start time is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func slotDir() string { return filepath.Join(StateDir, "slots") }

// allocSlot claims a free address slot for runID by creating its file with
// O_EXCL, starting from a random slot. Slots of crashed runs stay claimed
// until `tcplab cleanup`.
func allocSlot(runID string) (int, error) {
	if err := os.MkdirAll(slotDir(), 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", slotDir(), err)
	}
	st, err := procStartTime(os.Getpid())
	if err != nil {
		return 0, fmt.Errorf("read own start time: %w", err)
	}
	rec := owner{runID, os.Getpid(), st}.String()
	var r [2]byte
	rand.Read(r[:])
	start := int(binary.BigEndian.Uint16(r[:])) % slotCount
	for k := 0; k < slotCount; k++ {
		n := (start + k) % slotCount
		p := filepath.Join(slotDir(), fmt.Sprintf("%05d", n))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("claim address slot %s: %w", p, err)
		}
		_, werr := f.WriteString(rec)
		cerr := f.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(p)
			return 0, fmt.Errorf("write address slot %s: %w", p, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("all %d address slots of 198.18.0.0/15 are in use (run `tcplab cleanup`)", slotCount)
}

func freeSlot(n int) error {
	p := filepath.Join(slotDir(), fmt.Sprintf("%05d", n))
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("release address slot %s: %w", p, err)
	}
	return nil
}

// RunsOwnedBy lists the run IDs whose address slot is held by process pid.
// Tests use it to find their own runs among concurrent ones.
func RunsOwnedBy(pid int) []string {
	slots, _ := os.ReadDir(slotDir())
	var out []string
	for _, s := range slots {
		b, err := os.ReadFile(filepath.Join(slotDir(), s.Name()))
		if err != nil {
			continue
		}
		if o, err := parseOwner(string(b)); err == nil && o.PID == pid {
			out = append(out, o.RunID)
		}
	}
	return out
}

// RunNamespaces lists the namespaces of run runID that exist.
func RunNamespaces(runID string) []string {
	var out []string
	for _, side := range []string{"snd", "rcv"} {
		n := NamespaceName(runID, side)
		if _, err := os.Stat(filepath.Join(NetnsDir, n)); err == nil {
			out = append(out, n)
		}
	}
	return out
}
