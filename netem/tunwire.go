package netem

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/netem/userspace"
)

// TUNLink names the TUN device in each namespace of a userspace lab.
const TUNLink = "tcplab-t"

// tunQueueLen is the TUN devices' txqueuelen: 1000 dropped bursts here.
const tunQueueLen = 10000

// wireTUN creates a TUN device in each namespace, addresses it and starts
// the userspace link between them.
func (t *Topology) wireTUN(down, up impair.Impairment) error {
	var fds [2]int
	for i, ep := range []*Endpoint{&t.Sender, &t.Receiver} {
		ep.Link = TUNLink
		var fd int
		err := Do(ep.NS, func() (err error) {
			fd, err = userspace.OpenTUN(TUNLink)
			return err
		})
		if err != nil {
			if i == 1 {
				unix.Close(fds[0])
			}
			return fmt.Errorf("create TUN in %s: %w", ep.Namespace, err)
		}
		fds[i] = fd
		h, err := netlink.NewHandleAt(ep.NS, unix.NETLINK_ROUTE)
		if err == nil {
			var l netlink.Link
			if l, err = h.LinkByName(TUNLink); err == nil {
				err = h.LinkSetTxQLen(l, tunQueueLen)
			}
			h.Close()
		}
		if err == nil {
			err = upWithAddrLink(ep)
		}
		if err != nil {
			unix.Close(fds[0])
			if i == 1 {
				unix.Close(fds[1])
			}
			return fmt.Errorf("set up TUN in %s: %w", ep.Namespace, err)
		}
	}
	l, err := userspace.Start(fds[0], fds[1], down, up)
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return fmt.Errorf("start userspace link: %w", err)
	}
	t.link = l
	t.undo = append(t.undo, l.Stop)
	t.Applied = append(t.Applied, "userspace link between "+TUNLink+" devices")
	return nil
}

func upWithAddrLink(ep *Endpoint) error {
	h, err := netlink.NewHandleAt(ep.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink in %s: %w", ep.Namespace, err)
	}
	defer h.Close()
	return upWithAddr(h, ep)
}
