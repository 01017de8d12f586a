package netem

import (
	"fmt"
	"io"
	"net"
	"os/exec"

	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/netem/impair"
)

func TestBuildConnectClose(t *testing.T) {
	labtest.RequireRoot(t)
	topo, err := Build(Config{Down: impair.Impairment{RateBits: 20e6}})
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
	var ln net.Listener
	err = Do(topo.Receiver.NS, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(topo.Receiver.Addr.Addr().String(), "5001"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	var c net.Conn
	err = Do(topo.Sender.NS, func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1 MB through a 20 Mbit/s tbf takes about 0.4 s; unshaped it is instant.
	buf := make([]byte, 1<<20)
	start := time.Now()
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := <-got; n != int64(len(buf)) {
		t.Fatalf("receiver got %d bytes, want %d", n, len(buf))
	}
	el := time.Since(start)
	rate := float64(len(buf)*8) / el.Seconds()
	t.Logf("1 MiB in %v: %.1f Mbit/s", el, rate/1e6)
	if rate > 30e6 {
		t.Errorf("rate %.1f Mbit/s through a 20 Mbit/s tbf", rate/1e6)
	}
	// The root namespace never sees the veth ends.
	if _, err := net.InterfaceByName(SenderLink); err == nil {
		t.Errorf("%s visible in the root namespace", SenderLink)
	}
}

func TestSlotAddrs(t *testing.T) {
	for _, c := range []struct {
		n    int
		s, r string
	}{{0, "198.18.0.1/30", "198.18.0.2/30"}, {1, "198.18.0.5/30", "198.18.0.6/30"}, {slotCount - 1, "198.19.255.253/30", "198.19.255.254/30"}} {
		s, r := SlotAddrs(c.n)
		if fmt.Sprint(s) != c.s || fmt.Sprint(r) != c.r {
			t.Errorf("slot %d: got %s %s, want %s %s", c.n, s, r, c.s, c.r)
		}
	}
}

func TestConcurrentBuildsGetDistinctSlots(t *testing.T) {
	labtest.RequireRoot(t)
	const n = 4
	topos := make(chan *Topology, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			tp, err := Build(Config{})
			if err != nil {
				errs <- err
				return
			}
			topos <- tp
		}()
	}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Error(err)
		case tp := <-topos:
			a := tp.Sender.Addr.String()
			if seen[a] {
				t.Errorf("address %s given twice", a)
			}
			seen[a] = true
			id := tp.RunID
			if err := tp.Close(); err != nil {
				t.Error(err)
			}
			assertNoLeftovers(t, id)
		}
	}
}

func BenchmarkTopologyUpDown(b *testing.B) {
	labtest.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		tp, err := Build(Config{Down: impair.Impairment{RateBits: 20e6}})
		if err != nil {
			b.Fatal(err)
		}
		if err := tp.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCloseKillsProcesses: a process left inside a namespace (a peer that
// did not stop) is killed when the lab is removed.
func TestCloseKillsProcesses(t *testing.T) {
	labtest.RequireRoot(t)
	topo, err := Build(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := Do(topo.Sender.NS, cmd.Start); err != nil {
		topo.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	pids, err := pidsInNamespace(topo.Sender.Namespace)
	if err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("processes in %s: %v %v, want [%d]", topo.Sender.Namespace, pids, err, cmd.Process.Pid)
	}
	id := topo.RunID
	if err := topo.Close(); err != nil {
		t.Error(err)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		t.Error("process inside the namespace survived Close")
	}
	assertNoLeftovers(t, id)
}

// TestLinkDownPartition: with both interfaces down nothing crosses; brought
// up again, the connection made before carries data (the timeline's
// link-down partition), on each backend this machine has.
func TestLinkDownPartition(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(string(b), func(t *testing.T) {
			topo := lab(t, b, impair.Impairment{}, impair.Impairment{})
			snd, rcv := tcpPair(t, topo)
			if err := topo.SetLinksUp(false); err != nil {
				t.Fatal(err)
			}
			snd.Write([]byte("while down"))
			rcv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			buf := make([]byte, 64)
			if n, err := rcv.Read(buf); err == nil {
				t.Fatalf("%q crossed a link that was down", buf[:n])
			}
			if err := topo.SetLinksUp(true); err != nil {
				t.Fatal(err)
			}
			rcv.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len("while down"))
			if _, err := io.ReadFull(rcv, got); err != nil || string(got) != "while down" {
				t.Errorf("after the link came back: %q, %v", got, err)
			}
		})
	}
}
