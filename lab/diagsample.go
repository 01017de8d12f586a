package lab

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/tcpinfo"
)

// startDiagSamplers samples the established sockets on port in both
// namespaces through sock_diag until the returned stop is called.
func startDiagSamplers(topo *netem.Topology, port uint16, start int64, interval time.Duration, out io.Writer) (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var conns []*tcpinfo.DiagConn
	for _, x := range []struct {
		role string
		ep   *netem.Endpoint
	}{{peers.RoleSender, &topo.Sender}, {peers.RoleReceiver, &topo.Receiver}} {
		var fd int
		if err := netem.Do(x.ep.NS, func() (err error) {
			fd, err = tcpinfo.OpenDiagSocket()
			return err
		}); err != nil {
			cancel()
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		dc := tcpinfo.NewDiagConn(fd)
		conns = append(conns, dc)
		smp := &tcpinfo.DiagSampler{Conn: dc, Side: x.role, Port: port, Start: start, Interval: interval, W: out}
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
	return func() error {
		cancel()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		return errors.Join(errs...)
	}, nil
}
