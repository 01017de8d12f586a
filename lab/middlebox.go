package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/netem/userspace"
	"github.com/tcplab/tcplab/peers"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/tcpinfo"
)

// middleboxPoll is how often the run asks the link which flows its NAT
// forgot; each is stamped with the time it forgot, not the time it was
// noticed.
const middleboxPoll = 100 * time.Millisecond

// watchMiddlebox records in events every connection the link's NAT forgets
// during the run, and the first packet from each side it then refused
// (start: the run's t = 0 on the monotonic clock). The
// returned stop takes a last look, ends the watch and returns when the
// first connection was forgotten (-1: none within the run).
func watchMiddlebox(s *scenario.Scenario, topo *netem.Topology, start int64, events io.Writer, mu *sync.Mutex) (stop func() time.Duration) {
	nat := s.Link.NAT
	dur := int64(s.Duration)
	first := time.Duration(-1)
	written := 0
	what := "its packets are dropped"
	if nat.Expired == "rst" {
		what = "its packets are answered with an RST"
	}
	refusedWritten := 0
	write := func(ev peers.Event) {
		b, _ := json.Marshal(ev)
		mu.Lock()
		events.Write(append(b, '\n'))
		mu.Unlock()
	}
	poll := func() {
		for _, r := range topo.MiddleboxRefusals()[refusedWritten:] {
			refusedWritten++
			if t := r.At - start; t < dur {
				side, kind := peers.RoleSender, "probe"
				if r.Dir == userspace.Up {
					side = peers.RoleReceiver
				}
				if r.Data {
					kind = "data"
				}
				write(peers.Event{T: t, Side: record.Side(side), Kind: peers.EventMiddleboxRefused, Detail: kind})
			}
		}
		ex := topo.MiddleboxExpiries()
		for ; written < len(ex); written++ {
			x := ex[written]
			t := x.At - start
			if t >= dur {
				// Past the end of the run: not part of it. Later ones are
				// later still, except for flows noticed late by the sweep.
				continue
			}
			if first < 0 || time.Duration(t) < first {
				first = time.Duration(t)
			}
			write(peers.Event{T: t, Side: record.SideLink, Kind: peers.EventMiddlebox,
				Detail: fmt.Sprintf("nat forgot %s ⇄ %s after %v idle: %s", x.Receiver, x.Sender, time.Duration(nat.IdleTimeout), what)})
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(middleboxPoll)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				poll()
			}
		}
	}()
	var once sync.Once
	return func() time.Duration {
		once.Do(func() {
			close(done)
			<-finished
			if tcpinfo.Monotonic()-start >= dur {
				// Flows that went idle just before the end are marked now.
				poll()
			}
		})
		return first
	}
}
