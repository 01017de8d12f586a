package netem

import (
	"testing"
	"time"

	"github.com/florianl/go-tc/core"
	"github.com/google/go-cmp/cmp"

	"github.com/tcplab/tcplab/netem/impair"
)

// TestNetemRoundTrip encodes every impairment field and decodes it back,
// without a kernel.
func TestNetemRoundTrip(t *testing.T) {
	core.SetClockParameters(1, 15.625) // /proc/net/psched of these machines: 1000 ns per µs, tick 64 ns
	cases := []impair.Impairment{
		{Delay: 25 * time.Millisecond},
		{Delay: 75 * time.Millisecond, Jitter: 2 * time.Millisecond, Distribution: impair.Normal, DelayCorrelation: 0.25},
		{Loss: 0.01, LossCorrelation: 0.5, Duplicate: 0.001, Corrupt: 0.002, CorruptCorrelation: 0.1, Seed: 42},
		{GE: &impair.GilbertElliott{P: 0.01, R: 0.2, OneMinusH: 1, OneMinusK: 0.001}, Limit: 5000},
		{Delay: 10 * time.Millisecond, Reorder: &impair.Reorder{Probability: 0.25, Correlation: 0.5, Gap: 5}},
		{RateBits: 20e6, Overhead: 14},
		{RateBits: 100e9}, // above 2^32 bytes/s: TCA_NETEM_RATE64
		{Blackhole: true},
	}
	for _, im := range cases {
		o, err := NetemFor(im)
		if err != nil {
			t.Fatal(err)
		}
		if o.Limit == 0 {
			t.Errorf("%+v: limit 0 would drop everything", im)
		}
		b, err := o.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeNetemOptions(b)
		if err != nil {
			t.Fatal(err)
		}
		o.DelayDist = nil // sent, never reported back
		if d := cmp.Diff(o, got); d != "" {
			t.Errorf("%+v: round trip (-want +got):\n%s", im, d)
		}
		if err := sameNetem(o, got); err != nil {
			t.Errorf("%+v: %v", im, err)
		}
	}
}

// TestNetemWireLayout checks the bytes against the kernel's layout, built
// by hand: struct tc_netem_qopt (6 × u32), then TCA_NETEM_LOSS (type 5)
// nesting NETEM_LOSS_GE (type 2) with struct tc_netem_gemodel (4 × u32),
// then TCA_NETEM_LATENCY64 (type 10, s64).
func TestNetemWireLayout(t *testing.T) {
	lat := int64(25e6)
	o := NetemOptions{Latency: 1, Limit: 1000, Loss: 2, Gap: 3, Duplicate: 4, Jitter: 5,
		GE: &[4]uint32{10, 20, 30, 40}, Latency64: &lat}
	b, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	le := func(vs ...uint32) []byte {
		out := make([]byte, 0, 4*len(vs))
		for _, v := range vs {
			out = append(out, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		}
		return out
	}
	var want []byte
	want = append(want, le(1, 1000, 2, 3, 4, 5)...)
	// TCA_NETEM_LOSS: nla_len 4 + 20, type 5 with NLA_F_NESTED (0x8000);
	// inside, NETEM_LOSS_GE: nla_len 4 + 16, type 2.
	want = append(want, 24, 0, 5, 0x80)
	want = append(want, 20, 0, 2, 0)
	want = append(want, le(10, 20, 30, 40)...)
	want = append(want, 12, 0, 10, 0)
	want = append(want, le(uint32(lat), uint32(lat>>32))...)
	if d := cmp.Diff(want, b); d != "" {
		t.Errorf("wire bytes (-want +got):\n%s", d)
	}
}

func TestDistTable(t *testing.T) {
	if DistTable(impair.Uniform) != nil {
		t.Error("uniform needs no table")
	}
	for _, d := range []impair.Distribution{impair.Normal, impair.Pareto, impair.ParetoNormal} {
		tab := DistTable(d)
		if len(tab) != distTableSize {
			t.Fatalf("%s: %d entries", d, len(tab))
		}
		var s, s2 float64
		for i, v := range tab {
			if i > 0 && v < tab[i-1] {
				t.Fatalf("%s: table not monotonic at %d", d, i)
			}
			x := float64(v) / netemDistScale
			s += x
			s2 += x * x
		}
		n := float64(len(tab))
		m := s / n
		sd := s2/n - m*m
		t.Logf("%s: mean %.3f σ² %.3f", d, m, sd)
		want := impair.Std(d, 1) * impair.Std(d, 1)
		if m < -0.05 || m > 0.05 || sd < 0.97*want || sd > 1.03*want {
			t.Errorf("%s: table mean %.3f variance %.3f, want ≈0 and %.3f (the userspace link's)", d, m, sd, want)
		}
	}
}
