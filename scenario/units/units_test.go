package units

import "testing"

func TestParseRate(t *testing.T) {
	good := map[string]Rate{
		"50mbit": 50e6, "10Mbit/s": 10e6, "1gbit": 1e9, "800kbit": 800e3, "64000bit": 64000,
		"2MB/s": 16e6, "400KiB/s": 400 * 1024 * 8, "1500B/s": 12000, "10mbps": 10e6, "1.5gbit": 1.5e9,
	}
	for in, want := range good {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "50", "mbit", "5 furlongs", "2MB", "2mb/s", "-5mbit", "0bit", "1e20gbit", "max"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]Size{"64KiB": 65536, "1MB": 1e6, "200B": 200, "1.5MiB": 1572864, "2GiB": 2 << 30}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "64", "64kib", "1.5B", "KiB", "5TB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestParseDurationPercent(t *testing.T) {
	if d, err := ParseDuration("150ms"); err != nil || d != Duration(150e6) {
		t.Errorf("150ms: %v %v", d, err)
	}
	for _, in := range []string{"", "150", "-1s", "3 parsecs"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
	if p, err := ParsePercent("0.5%"); err != nil || p != 0.5 {
		t.Errorf("0.5%%: %v %v", p, err)
	}
	for _, in := range []string{"0.5", "101%", "x%"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) accepted", in)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"50mbit", "2MB/s", "1.5gbit", "max", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseRate(s)
		ParseSize(s)
		ParseDuration(s)
		ParsePercent(s)
	})
}
