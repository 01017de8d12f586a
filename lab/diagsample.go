package lab

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/tcpinfo"
	"golang.org/x/sys/unix"
)

// startDiagSamplers samples the established sockets on port in both
// namespaces through sock_diag until the returned stop is called, numbering
// each connection the same at both ends, and samples each socket once more
// as the kernel destroys it (a connection shorter than the interval still
// gets its samples).
func startDiagSamplers(topo *netem.Topology, port uint16, start int64, interval time.Duration, out io.Writer) (stop func() ([]record.SamplerClock, error), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var conns []*tcpinfo.DiagConn
	var watches []*tcpinfo.DestroyWatch
	var samplers []*tcpinfo.DiagSampler
	ids := &tcpinfo.ConnIDs{}
	for _, x := range []struct {
		role string
		ep   *netem.Endpoint
	}{{peers.RoleSender, &topo.Sender}, {peers.RoleReceiver, &topo.Receiver}} {
		var fd int
		var dw *tcpinfo.DestroyWatch
		if err := netem.Do(x.ep.NS, func() (err error) {
			if fd, err = tcpinfo.OpenDiagSocket(); err != nil {
				return err
			}
			if dw, err = tcpinfo.OpenDestroyWatch(); err != nil {
				unix.Close(fd)
			}
			return err
		}); err != nil {
			cancel()
			for _, c := range conns {
				c.Close()
			}
			for _, w := range watches {
				w.Close()
			}
			return nil, err
		}
		dc := tcpinfo.NewDiagConn(fd)
		conns, watches = append(conns, dc), append(watches, dw)
		smp := &tcpinfo.DiagSampler{Conn: dc, Side: x.role, Port: port, Start: start, Interval: interval, W: out, IDs: ids, Destroyed: dw}
		samplers = append(samplers, smp)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := smp.Run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	return func() ([]record.SamplerClock, error) {
		cancel()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		for _, w := range watches {
			w.Close()
		}
		clocks := make([]record.SamplerClock, 0, len(samplers))
		for _, smp := range samplers {
			clocks = append(clocks, record.SamplerClock{Side: smp.Side, Ticks: smp.Clock.Ticks, Missed: smp.Clock.Missed, CPUS: float64(smp.Clock.CPU) / 1e9})
		}
		return clocks, errors.Join(errs...)
	}, nil
}
