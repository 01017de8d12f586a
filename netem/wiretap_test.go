package netem

import (
	"io"
	"math"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/wire"
)

// TestWireObserver: on each backend, the observer is told of every packet
// of a connection between the namespaces — the userspace link as it reads
// them, the kernel backend through its packet socket — and the tracker
// makes its lifecycle of them: the sender's side connected, one request of
// 10,000 bytes and its response of 5,000, the client closing first, the
// handshake one round trip. The delay (10 ms each way) needs netem on the
// kernel backend; without it the kernel backend is checked unimpaired (on
// this machine; the netem VM runs it with the delay).
func TestWireObserver(t *testing.T) {
	labtest.RequireRoot(t)
	cases := []struct {
		b     Backend
		delay time.Duration
	}{{Userspace, 10 * time.Millisecond}}
	if HaveQdisc("netem") == nil {
		cases = append(cases, struct {
			b     Backend
			delay time.Duration
		}{Kernel, 10 * time.Millisecond})
	} else {
		cases = append(cases, struct {
			b     Backend
			delay time.Duration
		}{Kernel, 0})
	}
	for _, c := range cases {
		t.Run(string(c.b), func(t *testing.T) {
			tr := wire.NewTracker()
			im := impair.Impairment{Delay: c.delay}
			topo, err := Build(Config{Backend: c.b, Down: im, Up: im, Observer: tr})
			if err != nil {
				t.Fatal(err)
			}
			id := topo.RunID
			defer func() {
				if err := topo.Close(); err != nil {
					t.Error(err)
				}
				assertNoLeftovers(t, id)
			}()
			start := monotonicNow()
			snd, rcv := tcpPair(t, topo)
			snd.Write(make([]byte, 10000))
			if _, err := io.ReadFull(rcv, make([]byte, 10000)); err != nil {
				t.Fatal(err)
			}
			rcv.Write(make([]byte, 5000))
			if _, err := io.ReadFull(snd, make([]byte, 5000)); err != nil {
				t.Fatal(err)
			}
			snd.Close()
			io.Copy(io.Discard, rcv)
			rcv.Close()
			time.Sleep(3*c.delay + 50*time.Millisecond) // the last ACK crosses
			topo.StopObserving()
			conns := tr.Conns(start, monotonicNow())
			if len(conns) != 1 {
				t.Fatalf("%d connections on the wire, want 1: %+v", len(conns), conns)
			}
			w := conns[0]
			if w.ClientSide != record.RoleSender || w.Exchanges != 1 || w.BytesClient != 10000 || w.BytesServer != 5000 {
				t.Errorf("client side %s, %d exchanges, bytes %d / %d; want sender, 1, 10000 / 5000", w.ClientSide, w.Exchanges, w.BytesClient, w.BytesServer)
			}
			if w.Close == nil || w.Close.By != record.EndClient || w.Close.How != record.CloseFIN {
				t.Errorf("closed %+v, want by the client with a FIN", w.Close)
			}
			// Under an emulated CPU (the netem VM) each hop of the
			// userspace link may add up to the conformance suite's slack.
			rtt, tol := float64(2*c.delay)/1e6, max(1, 0.1*float64(2*c.delay)/1e6)+3*slackUS()/1e3
			if w.HandshakeMs == nil {
				t.Errorf("no handshake seen, want the round trip %.1f ms", rtt)
			} else if math.Abs(*w.HandshakeMs-rtt) > tol {
				t.Errorf("handshake %.2f ms, want the round trip %.1f ms (within %.1f ms)", *w.HandshakeMs, rtt, tol)
			}
			if n := topo.ObserverMissed(); n != 0 {
				t.Errorf("the observer missed %d packets", n)
			}
		})
	}
}
