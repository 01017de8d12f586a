package tcpinfo

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestDestroyWatch: a connection that lives a few milliseconds — shorter
// than any sampling interval — still gives a last tcp_info for each of its
// sockets when they are destroyed, with the bytes the writer sent acked.
func TestDestroyWatch(t *testing.T) {
	var w *DestroyWatch
	var port uint16
	inFreshNS(t, func() error {
		var err error
		if w, err = OpenDestroyWatch(); err != nil {
			return err
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		port = uint16(ln.Addr().(*net.TCPAddr).Port)
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		c.Write(make([]byte, 50000))
		c.Close()
		io.Copy(io.Discard, s)
		return s.Close()
	})
	defer w.Close()
	var got []DiagSocket
	for deadline := time.Now().Add(2 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := w.Drain(func(d *DiagSocket) {
			if (d.Src.Port() == port || d.Dst.Port() == port) && d.Dst.Port() != 0 { // not the listener
				got = append(got, *d)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 {
		for _, d := range got {
			t.Logf("%v → %v state %d info %v acked %d", d.Src, d.Dst, d.State, d.HasInfo, d.Info.BytesAcked)
		}
		t.Fatalf("%d destroyed sockets of the connection heard, want 2 (client and server)", len(got))
	}
	var sent uint64
	for _, d := range got {
		if !d.HasInfo {
			t.Fatalf("destroyed socket %v → %v came without tcp_info", d.Src, d.Dst)
		}
		sent = max(sent, d.Info.BytesAcked)
	}
	if sent < 50000 {
		t.Errorf("the writer's last tcp_info says %d bytes acked, want 50000", sent)
	}
}
