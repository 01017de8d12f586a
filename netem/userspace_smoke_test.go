package netem

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/tcplab/tcplab/netem/impair"
)

func TestUserspaceSmoke(t *testing.T) {
	requireRoot(t)
	im := impair.Impairment{Delay: 25 * time.Millisecond}
	topo, err := Build(Config{Backend: Userspace, Down: im, Up: im})
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	var ln net.Listener
	if err := Do(topo.Receiver.NS, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(topo.Receiver.Addr.Addr().String(), "5001"))
		return err
	}); err != nil {
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
	t0 := time.Now()
	if err := Do(topo.Sender.NS, func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("connect took %v", time.Since(t0))
	buf := make([]byte, 64<<20)
	t0 = time.Now()
	c.Write(buf)
	c.Close()
	n := <-got
	el := time.Since(t0)
	t.Logf("%d bytes in %v: %.0f Mbit/s; stats %+v", n, el, float64(n*8)/el.Seconds()/1e6, topo.LinkStats())
	if n != int64(len(buf)) {
		t.Fatalf("got %d", n)
	}
}
