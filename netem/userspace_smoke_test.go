package netem

import (
	"io"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/netem/impair"
)

func TestUserspaceSmoke(t *testing.T) {
	labtest.RequireRoot(t)
	im := impair.Impairment{Delay: 25 * time.Millisecond}
	topo, err := Build(Config{Backend: Userspace, Down: im, Up: im})
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	t0 := time.Now()
	c, rcv := tcpPair(t, topo)
	t.Logf("connect took %v", time.Since(t0))
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, rcv)
		got <- n
	}()
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
