package netem

import (
	"bufio"

	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetStat reads the namespace's TCP and IP counters (/proc/net/snmp and
// /proc/net/netstat as seen from inside it) and returns the non-zero ones,
// named like nstat does (TcpExtListenDrops, TcpRetransSegs…).
func NetStat(ep *Endpoint) (map[string]uint64, error) {
	out := map[string]uint64{}
	err := Do(ep.NS, func() error {
		for _, f := range []string{"/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"} {
			if err := readCounters(f, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read counters of %s: %w", ep.Namespace, err)
	}
	// The lab interface's own counters: what its driver passed and dropped.
	if h, err := netlink.NewHandleAt(ep.NS, unix.NETLINK_ROUTE); err == nil {
		if l, err := h.LinkByName(ep.Link); err == nil && l.Attrs().Statistics != nil {
			st := l.Attrs().Statistics
			for k, v := range map[string]uint64{"DevRxPackets": st.RxPackets, "DevTxPackets": st.TxPackets, "DevRxDropped": st.RxDropped,
				"DevTxDropped": st.TxDropped, "DevRxErrors": st.RxErrors, "DevTxErrors": st.TxErrors} {
				if v != 0 {
					out[k] = v
				}
			}
		}
		h.Close()
	}
	return out, nil
}

// readCounters parses the header/value line pairs of a /proc/net counter file.
func readCounters(path string, out map[string]uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var head []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		if head == nil || head[0] != fields[0] {
			head = fields
			continue
		}
		prefix := strings.TrimSuffix(fields[0], ":")
		for i := 1; i < len(fields) && i < len(head); i++ {
			v, err := strconv.ParseUint(fields[i], 10, 64)
			if err != nil || v == 0 {
				continue // negative (Tcp MaxConn) or zero
			}
			out[prefix+head[i]] = v
		}
		head = nil
	}
	return sc.Err()
}
