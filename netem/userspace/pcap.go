package userspace

import (
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// capture writes what crossed the link, both directions, as raw IP packets
// (pcap LINKTYPE_RAW). TSO super-packets appear as the large packets they
// were, as tcpdump shows them on an interface with offloads.
type capture struct {
	mu      sync.Mutex
	w       *pcapgo.Writer
	snaplen int
	err     error
}

// Capture starts writing every released packet to w, cut at snaplen bytes
// (0: whole packets). Writing shares the release threads' time, so a
// capture of whole packets at gigabits per second costs fidelity: headers
// (snaplen 128) are what most questions need.
func (l *Link) Capture(w io.Writer, snaplen int) error {
	if snaplen <= 0 || snaplen > 65535 {
		snaplen = 65535
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(uint32(snaplen), layers.LinkTypeRaw); err != nil {
		return err
	}
	l.cap.Store(&capture{w: pw, snaplen: snaplen})
	return nil
}

func (c *capture) write(ip []byte) {
	n := len(ip)
	if n > c.snaplen {
		n = c.snaplen
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: n, Length: len(ip)}
	c.mu.Lock()
	if c.err == nil {
		c.err = c.w.WritePacket(ci, ip[:n])
	}
	c.mu.Unlock()
}
