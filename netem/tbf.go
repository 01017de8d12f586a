package netem

import (
	"errors"
	"fmt"
	"sync"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// MaxTbfRate is the highest rate tbf takes through TCA_TBF_PARMS (a u32 of
// bytes per second); go-tc v0.4.8 does not encode TCA_TBF_RATE64.
const MaxTbfRate = uint64(^uint32(0)) * 8

var clockOnce sync.Once
var clockErr error

// initClock reads /proc/net/psched once. Without it go-tc's Time2Tick
// silently returns 0.
func initClock() error {
	clockOnce.Do(func() { clockErr = core.InitializeClock() })
	if clockErr != nil {
		return fmt.Errorf("read /proc/net/psched for tc tick maths: %w", clockErr)
	}
	return nil
}

// TbfParams is what tcplab asks of one tbf qdisc.
type TbfParams struct {
	RateBps uint64 // bytes per second
	Burst   uint32 // bucket size, bytes
	Limit   uint32 // queue, bytes
}

// TbfFor derives the bucket and queue of a tbf for rateBits (bits/s): a bucket
// of 4 ms at the rate (one jiffy here, and never below 16 KiB so that a full
// frame always fits), and a queue of 50 ms at the rate plus the bucket.
func TbfFor(rateBits uint64) TbfParams {
	bps := rateBits / 8
	burst := bps * 4 / 1000
	if burst < 16<<10 {
		burst = 16 << 10
	}
	limit := bps*50/1000 + burst
	if limit < 64<<10 {
		limit = 64 << 10
	}
	if limit > 1<<30 {
		limit = 1 << 30
	}
	if burst > 1<<30 {
		burst = 1 << 30
	}
	return TbfParams{RateBps: bps, Burst: uint32(burst), Limit: uint32(limit)}
}

// tbfObject builds the netlink object for `tc qdisc replace dev IFINDEX root
// handle 1: tbf rate R burst B limit L`.
func tbfObject(ifindex uint32, p TbfParams) (*tc.Object, error) {
	if err := initClock(); err != nil {
		return nil, err
	}
	if p.RateBps == 0 || p.RateBps > uint64(^uint32(0)) {
		return nil, fmt.Errorf("tbf rate %d bytes/s out of range 1..%d", p.RateBps, ^uint32(0))
	}
	burst := p.Burst
	buffer := core.XmitTime(p.RateBps, burst)
	if buffer == 0 {
		return nil, errors.New("tbf: bucket time computed as 0 ticks (clock not initialised?)")
	}
	return &tc.Object{
		Msg: tc.Msg{
			Family:  unix.AF_UNSPEC,
			Ifindex: ifindex,
			Handle:  core.BuildHandle(0x1, 0x0),
			Parent:  tc.HandleRoot,
		},
		Attribute: tc.Attribute{
			Kind: "tbf",
			Tbf: &tc.Tbf{
				Parms: &tc.TbfQopt{
					Rate:   tc.RateSpec{Rate: uint32(p.RateBps), Linklayer: 1 /* TC_LINKLAYER_ETHERNET */},
					Limit:  p.Limit,
					Buffer: buffer,
				},
				Burst: &burst,
			},
		},
	}, nil
}

// applyTbf replaces the root qdisc of ifindex in namespace ns with a tbf and
// reads it back to check that the kernel holds what was asked.
func applyTbf(ns netns.NsHandle, ifname string, ifindex uint32, p TbfParams) error {
	obj, err := tbfObject(ifindex, p)
	if err != nil {
		return fmt.Errorf("apply tbf on %s: %w", ifname, err)
	}
	tcnl, err := tc.Open(&tc.Config{NetNS: int(ns)})
	if err != nil {
		return fmt.Errorf("apply tbf on %s: open rtnetlink: %w", ifname, err)
	}
	defer tcnl.Close()
	if err := tcnl.Qdisc().Replace(obj); err != nil {
		return fmt.Errorf("apply tbf on %s (rate %d B/s, burst %d B, limit %d B): %w", ifname, p.RateBps, p.Burst, p.Limit, err)
	}
	got, err := readTbf(tcnl, ifindex)
	if err != nil {
		return fmt.Errorf("read back tbf on %s: %w", ifname, err)
	}
	if got.RateBps != p.RateBps || got.Limit != p.Limit {
		return fmt.Errorf("tbf on %s: asked rate %d B/s limit %d B, kernel holds rate %d B/s limit %d B", ifname, p.RateBps, p.Limit, got.RateBps, got.Limit)
	}
	return nil
}

// readTbf returns the parameters of the root tbf on ifindex.
func readTbf(tcnl *tc.Tc, ifindex uint32) (TbfParams, error) {
	qs, err := tcnl.Qdisc().Get()
	if err != nil {
		return TbfParams{}, err
	}
	for _, q := range qs {
		if q.Ifindex != ifindex || q.Parent != tc.HandleRoot || q.Kind != "tbf" || q.Tbf == nil || q.Tbf.Parms == nil {
			continue
		}
		p := TbfParams{RateBps: uint64(q.Tbf.Parms.Rate.Rate), Limit: q.Tbf.Parms.Limit}
		if q.Tbf.Burst != nil {
			p.Burst = *q.Tbf.Burst
		}
		return p, nil
	}
	return TbfParams{}, fmt.Errorf("no root tbf qdisc on ifindex %d", ifindex)
}
