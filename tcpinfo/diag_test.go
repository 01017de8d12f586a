package tcpinfo

import (
	"encoding/binary"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inFreshNS runs fn on a thread inside a new network namespace with
// loopback up; sockets fn creates stay there. It returns after fn.
func inFreshNS(tb testing.TB, fn func() error) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create a network namespace")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, _ := netns.Get()
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			err = fn()
		}
		if netns.Set(orig) != nil {
			errc <- err
			return // the thread stays locked and dies
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
}

// diagLab opens n loopback connections (2n sockets) and a sock_diag socket
// in a fresh namespace; the connections keep unread data on the server side.
func diagLab(tb testing.TB, n int) (*DiagConn, []net.Conn) {
	var conns []net.Conn
	var fd int
	inFreshNS(tb, func() error {
		ln, err := net.Listen("tcp4", "127.0.0.1:7001")
		if err != nil {
			return err
		}
		defer ln.Close()
		for i := 0; i < n; i++ {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			conns = append(conns, c, s)
		}
		fd, err = OpenDiagSocket()
		return err
	})
	tb.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return NewDiagConn(fd), conns
}

func TestDiagDump(t *testing.T) {
	dc, conns := diagLab(t, 3)
	defer dc.Close()
	// 1000 bytes the server application has not read.
	conns[0].Write(make([]byte, 1000))
	var got []DiagSocket
	err := dc.Dump(DiagFilter{Family: unix.AF_INET, States: StateEstablished, SrcPort: 7001}, func(s *DiagSocket) {
		got = append(got, *s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d server sockets, want 3", len(got))
	}
	unread := false
	for _, s := range got {
		if !s.HasInfo || !s.HasMem || s.Cong == "" || s.Src.Port() != 7001 || s.State != 1 || s.Info.State != 1 {
			t.Errorf("socket %+v", s)
		}
		if s.Info.Len < 232 {
			t.Errorf("INET_DIAG_INFO of %d bytes", s.Info.Len)
		}
		if s.RQueue == 1000 {
			unread = true
		}
	}
	if !unread {
		t.Error("no socket reports the 1000 unread bytes in idiag_rqueue")
	}
	// With bbr, the VEGAS bit brings BBR's model.
	n := 0
	dc.Dump(DiagFilter{}, func(s *DiagSocket) {
		n++
		if s.Cong == "bbr" && !s.HasBBR {
			t.Errorf("bbr socket without INET_DIAG_BBRINFO")
		}
	})
	if n < 6 {
		t.Errorf("unfiltered dump saw %d sockets, want ≥ 6", n)
	}
	if *record {
		raw := rawDump(t, dc)
		if err := os.WriteFile("testdata/sockdiag-6.18-dump.bin", raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() { dc.Dump(DiagFilter{Family: unix.AF_INET}, func(*DiagSocket) {}) })
	if allocs != 0 {
		t.Errorf("a dump allocates %.0f times", allocs)
	}
}

// rawDump returns the bytes of one complete IPv4 dump, every receive
// concatenated.
func rawDump(t *testing.T, dc *DiagConn) []byte {
	if _, err := unix.Write(dc.fd, dc.request(unix.AF_INET, 0, 0)); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for {
		n, err := unix.Read(dc.fd, dc.buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, dc.buf[:n]...)
		if done, _ := WalkDiagDump(dc.buf[:n], func([]byte) error { return nil }); done {
			return out
		}
	}
}

func TestParseRecordedDump(t *testing.T) {
	b, err := os.ReadFile("testdata/sockdiag-6.18-dump.bin")
	if err != nil {
		t.Fatal(err)
	}
	var socks []DiagSocket
	done, err := WalkDiagDump(b, func(p []byte) error {
		var s DiagSocket
		if err := ParseDiag(p, &s); err != nil {
			return err
		}
		socks = append(socks, s)
		return nil
	})
	if err != nil || !done {
		t.Fatalf("done %v err %v", done, err)
	}
	if len(socks) < 6 {
		t.Fatalf("%d sockets in the recorded dump", len(socks))
	}
	for _, s := range socks {
		if s.Family != unix.AF_INET || !s.HasInfo || s.Info.Len != 280 || !s.HasMem || s.Cong == "" {
			t.Errorf("recorded socket parsed as %+v", s)
		}
	}
	// Every truncation is an error or a shorter result, never a panic.
	for n := 0; n < len(b); n += 7 {
		WalkDiagDump(b[:n], func(p []byte) error {
			var s DiagSocket
			ParseDiag(p, &s)
			return nil
		})
	}
	var s DiagSocket
	if err := ParseDiag(b[16:16+40], &s); err == nil {
		t.Error("a 40-byte inet_diag_msg parsed")
	}
}

func FuzzParseDiag(f *testing.F) {
	if b, err := os.ReadFile("testdata/sockdiag-6.18-dump.bin"); err == nil {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		WalkDiagDump(b, func(p []byte) error {
			var s DiagSocket
			ParseDiag(p, &s)
			return nil
		})
	})
}

// BenchmarkDiagDump10k is one dump and parse of 10,000 established sockets
// in a namespace (goal < 20 ms).
func BenchmarkDiagDump10k(b *testing.B) {
	dc, _ := diagLab(b, 5000)
	defer dc.Close()
	for _, c := range []struct {
		name string
		ext  uint8
	}{{"all", 0}, {"no-bbr", 1<<(attrInfo-1) | 1<<(attrCong-1) | 1<<(attrSkMemInfo-1)}, {"info-only", 1 << (attrInfo - 1)}, {"none", 1 << (attrMemInfo - 1)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				n := 0
				if err := dc.Dump(DiagFilter{States: StateEstablished, Family: unix.AF_INET, Ext: c.ext}, func(*DiagSocket) { n++ }); err != nil {
					b.Fatal(err)
				}
				if n != 10000 {
					b.Fatalf("%d sockets", n)
				}
			}
		})
	}
}

// BenchmarkDiagSample1k is one sampling round of 1,000 sockets (dump, parse
// and the samples.jsonl lines). At every 10 ms, CPU share = ns/op ÷ 10 ms
// (goal < 5% of one core).
func BenchmarkDiagSample1k(b *testing.B) {
	dc, _ := diagLab(b, 500)
	defer dc.Close()
	p := &DiagSampler{Conn: dc, Side: "sender", Interval: 10 * time.Millisecond, W: io.Discard}
	b.ReportAllocs()
	p.Once()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Once(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDiagIPv6(t *testing.T) {
	var conns []net.Conn
	var fd int
	inFreshNS(t, func() error {
		ln, err := net.Listen("tcp6", "[::1]:7002")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := net.Dial("tcp6", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		conns = append(conns, c, s)
		fd, err = OpenDiagSocket()
		return err
	})
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dc := NewDiagConn(fd)
	defer dc.Close()
	n := 0
	if err := dc.Dump(DiagFilter{Family: unix.AF_INET6, States: StateEstablished}, func(s *DiagSocket) {
		n++
		if !s.Src.Addr().Is6() || s.Src.Addr().String() != "::1" || !s.HasInfo {
			t.Errorf("IPv6 socket parsed as %+v", s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d IPv6 sockets, want 2", n)
	}
}

func TestDiagGarbage(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.Intn(800))
		r.Read(b)
		if i%2 == 0 && len(b) >= 16 {
			// Make the netlink header plausible so the payload parser runs.
			binary.NativeEndian.PutUint32(b, uint32(len(b)))
			binary.NativeEndian.PutUint16(b[4:], sockDiagByFamily)
			if len(b) > 16 {
				b[16] = unix.AF_INET
			}
		}
		WalkDiagDump(b, func(p []byte) error {
			var s DiagSocket
			ParseDiag(p, &s)
			return nil
		})
	}
}
