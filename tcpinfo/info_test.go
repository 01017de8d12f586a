package tcpinfo

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"math/rand"
	"net"
	"os"
	"strings"
	"testing"
)

var record = flag.Bool("record", false, "record fresh tcp_info bytes into testdata/")

// TestFieldsMatchDecode writes a distinct value at each field's offset and
// checks that Decode puts it where the Fields table says.
func TestFieldsMatchDecode(t *testing.T) {
	for _, f := range Fields {
		if f.Offset < 8 {
			continue // bytes and bitfields: TestBitfields
		}
		buf := make([]byte, MaxLen)
		want := uint64(0x0102030405060708) >> (64 - 8*f.Size)
		switch f.Size {
		case 2:
			binary.LittleEndian.PutUint16(buf[f.Offset:], uint16(want))
		case 4:
			binary.LittleEndian.PutUint32(buf[f.Offset:], uint32(want))
		case 8:
			binary.LittleEndian.PutUint64(buf[f.Offset:], want)
		}
		var in Info
		if err := in.Decode(buf); err != nil {
			t.Fatal(err)
		}
		if got := f.Value(&in); got != want {
			t.Errorf("%s at %d: got %#x want %#x", f.Name, f.Offset, got, want)
		}
		for _, g := range Fields {
			if g.Offset >= 8 && g.Name != f.Name && g.Value(&in) != 0 {
				t.Errorf("writing %s also set %s", f.Name, g.Name)
			}
		}
	}
	// The table covers the struct without gaps or overlaps.
	end := 8
	for _, f := range Fields {
		if f.Offset < 8 {
			continue
		}
		if f.Offset != end {
			t.Errorf("%s starts at %d, previous field ended at %d", f.Name, f.Offset, end)
		}
		end = f.End()
	}
	if end != MaxLen {
		t.Errorf("fields end at %d, want %d", end, MaxLen)
	}
}

func TestBitfields(t *testing.T) {
	buf := make([]byte, MaxLen)
	buf[6] = 0xa7 // rcv_wscale 10, snd_wscale 7
	buf[7] = 0x05 // app_limited 1, fastopen_client_fail 2
	var in Info
	in.Decode(buf)
	if in.SndWscale != 7 || in.RcvWscale != 10 || in.DeliveryRateAppLimited != 1 || in.FastopenClientFail != 2 {
		t.Errorf("got snd_wscale %d rcv_wscale %d app_limited %d fastopen_fail %d", in.SndWscale, in.RcvWscale, in.DeliveryRateAppLimited, in.FastopenClientFail)
	}
}

func TestRecordedKernel618(t *testing.T) {
	b, err := os.ReadFile("testdata/tcpinfo-6.18-established.bin")
	if err != nil {
		t.Fatal(err)
	}
	var in Info
	if err := in.Decode(b); err != nil {
		t.Fatal(err)
	}
	if in.Len != 280 || in.State != 1 || in.SndMSS == 0 || in.BytesAcked == 0 || in.SndCwnd == 0 || !in.HasChronos() || !in.HasRcvWnd() {
		t.Errorf("recorded established socket decoded as %+v", in)
	}
	if in.MaxPacingRate != ^uint64(0) {
		t.Errorf("max_pacing_rate %d, want unset (2^64-1)", in.MaxPacingRate)
	}
}

// TestTruncated: a shorter struct (an older kernel) leaves later fields
// absent — not reported at all, never as 0.
func TestTruncated(t *testing.T) {
	b, err := os.ReadFile("testdata/tcpinfo-6.18-established.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{104, 120, 168, 192, 232, 248} {
		var in Info
		if err := in.Decode(b[:n]); err != nil {
			t.Fatal(err)
		}
		js := string(in.AppendJSON(nil))
		for _, f := range Fields {
			present := strings.Contains(js, `"`+f.Name+`":`)
			if present != (f.End() <= n) {
				t.Errorf("len %d: %s present=%v", n, f.Name, present)
			}
			if f.End() > n && f.Value(&in) != 0 {
				t.Errorf("len %d: absent %s holds %d", n, f.Name, f.Value(&in))
			}
		}
		var back Info
		if err := json.Unmarshal([]byte(js), &back); err != nil {
			t.Fatal(err)
		}
		if back != in {
			t.Errorf("len %d: JSON round trip changed the info", n)
		}
		if in.HasChronos() != (n >= 192) || in.HasSndWnd() != (n >= 232) || in.Has("pacing_rate") != (n >= 120) {
			t.Errorf("len %d: validity helpers wrong", n)
		}
	}
	var in Info
	if err := in.Decode(b[:7]); err == nil {
		t.Error("7 bytes decoded without error")
	}
}

func TestGarbage(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 1000; i++ {
		b := make([]byte, r.Intn(600))
		r.Read(b)
		var in Info
		if err := in.Decode(b); err != nil {
			if len(b) >= 8 {
				t.Fatalf("len %d: %v", len(b), err)
			}
			continue
		}
		var back Info
		if err := json.Unmarshal(in.AppendJSON(nil), &back); err != nil {
			t.Fatalf("len %d: JSON does not parse: %v", len(b), err)
		}
		if back != in {
			t.Fatalf("len %d: round trip differs", len(b))
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, 280))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var in Info
		if in.Decode(b) == nil {
			in.AppendJSON(nil)
		}
	})
}

// loopbackConn returns both ends of a TCP connection on the loopback of a
// fresh network namespace (the sockets keep working after the test thread
// leaves it), with some data sent so the counters move.
func loopbackConn(tb testing.TB) (client, server *net.TCPConn) {
	tb.Helper()
	inFreshNS(tb, func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		client, server = c.(*net.TCPConn), s.(*net.TCPConn)
		return nil
	})
	tb.Cleanup(func() { client.Close(); server.Close() })
	buf := make([]byte, 256<<10)
	go func() { server.Read(buf) }()
	client.Write(buf[:128<<10])
	return client, server
}

func rawFD(tb testing.TB, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func TestReadRealSocket(t *testing.T) {
	c, _ := loopbackConn(t)
	fd := rawFD(t, c)
	var r Reader
	var s Sample
	if err := r.Read(fd, &s); err != nil {
		t.Fatal(err)
	}
	if s.Info.Len < 104 || s.Info.State != 1 || s.Info.BytesAcked == 0 {
		t.Errorf("unexpected tcp_info from an established socket: %+v", s.Info)
	}
	if s.Mem.Sndbuf == 0 || s.Mem.Rcvbuf == 0 {
		t.Errorf("SO_MEMINFO gave no buffers: %+v", s.Mem)
	}
	if *record {
		n := uint32(bufLen)
		var raw [bufLen]byte
		if err := getsockoptRaw(fd, raw[:], &n); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/tcpinfo-6.18-established.bin", raw[:n], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() { r.Read(fd, &s) })
	if allocs != 0 {
		t.Errorf("Reader.Read allocates %.0f times per sample, want 0", allocs)
	}
	buf := make([]byte, 0, 4096)
	allocs = testing.AllocsPerRun(100, func() { buf = s.AppendJSON(buf[:0]) })
	if allocs != 0 {
		t.Errorf("Sample.AppendJSON allocates %.0f times, want 0", allocs)
	}
}

// BenchmarkSample is one tcp_info sample: getsockopt + decode (goal < 2 µs, 0 allocs).
func BenchmarkSample(b *testing.B) {
	c, _ := loopbackConn(b)
	fd := rawFD(b, c)
	var r Reader
	var in Info
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.ReadInfo(fd, &in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSampleFull adds the queue ioctls, SO_MEMINFO and the JSON line.
func BenchmarkSampleFull(b *testing.B) {
	c, _ := loopbackConn(b)
	fd := rawFD(b, c)
	var r Reader
	var s Sample
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Read(fd, &s); err != nil {
			b.Fatal(err)
		}
		buf = s.AppendJSON(buf[:0])
	}
}
