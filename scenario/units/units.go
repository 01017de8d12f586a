package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span written with its unit: 150ms, 2s, 1m30s, 500us.
type Duration time.Duration

// Rate is a bit rate in bits per second, written with its unit. Bit rates:
// 50mbit, 10Mbit/s, 1gbit, 800kbit, 64000bit (also "bps" forms: 10mbps).
// Byte rates: 2MB/s, 400KiB/s, 1500B/s. Prefixes k, M, G are base 10 (1 mbit =
// 1,000,000 bit/s); Ki, Mi, Gi are base 2. The word "max" means no limit
// where a field allows it.
type Rate uint64

// Size is a byte count written with its unit: 64KiB, 1MB, 200B, 1.5MiB.
// KB, MB, GB are base 10; KiB, MiB, GiB base 2.
type Size uint64

// Percent is a percentage written with %: 0.5%, 10%.
type Percent float64

// Max is the word that asks for "no limit" in rate fields.
const Max = "max"

// ParseDuration parses a Duration. The unit is required.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit (write 150ms, 2s, 1m)", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (write 150ms, 2s, 1m30s; units ns, us, ms, s, m, h)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return Duration(d), nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// splitNumber splits "12.5mbit" into 12.5 and "mbit".
func splitNumber(s string) (float64, string, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, "", fmt.Errorf("no number")
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, "", fmt.Errorf("bad number %q", s[:i])
	}
	return v, strings.TrimSpace(s[i:]), nil
}

var bitUnits = map[string]float64{
	"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
	"bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9,
}

var byteUnits = map[string]float64{
	"B": 1, "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

const rateHelp = "write a bit rate like 50mbit, 10Mbit/s, 1gbit or a byte rate like 2MB/s, 400KiB/s"

// ParseRate parses a Rate. It does not accept "max"; fields that allow it check first.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	v, unit, err := splitNumber(s)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q (%s)", s, rateHelp)
	}
	if unit == "" {
		return 0, fmt.Errorf("rate %q has no unit (%s)", s, rateHelp)
	}
	perSecond := strings.HasSuffix(unit, "/s")
	base := strings.TrimSuffix(unit, "/s")
	if m, ok := bitUnits[strings.ToLower(base)]; ok && (strings.HasSuffix(strings.ToLower(base), "bit") || !perSecond) {
		return checkRate(s, v*m)
	}
	if m, ok := byteUnits[base]; ok && perSecond {
		return checkRate(s, v*m*8)
	}
	return 0, fmt.Errorf("unknown rate unit in %q (%s; k/M/G are base 10, Ki/Mi/Gi base 2)", s, rateHelp)
}

func checkRate(s string, bits float64) (Rate, error) {
	if bits < 1 {
		return 0, fmt.Errorf("rate %q is below 1 bit/s", s)
	}
	if bits > 1e13 {
		return 0, fmt.Errorf("rate %q is above 10 Tbit/s", s)
	}
	return Rate(math.Round(bits)), nil
}

// BytesPerSecond is the rate in bytes per second.
func (r Rate) BytesPerSecond() uint64 { return uint64(r) / 8 }

func (r Rate) String() string {
	switch {
	case r == 0:
		return Max
	case r%1e9 == 0:
		return fmt.Sprintf("%dgbit", r/1e9)
	case r%1e6 == 0:
		return fmt.Sprintf("%dmbit", r/1e6)
	case r%1e3 == 0:
		return fmt.Sprintf("%dkbit", r/1e3)
	}
	return fmt.Sprintf("%dbit", uint64(r))
}

// ParseSize parses a Size.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	v, unit, err := splitNumber(s)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q (write 64KiB, 1MB, 200B)", s)
	}
	if unit == "" {
		return 0, fmt.Errorf("size %q has no unit (write 64KiB, 1MB, 200B)", s)
	}
	m, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown size unit in %q (accepted: B, KB, MB, GB base 10; KiB, MiB, GiB base 2)", s)
	}
	b := v * m
	if b != math.Trunc(b) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	if b > 1<<40 {
		return 0, fmt.Errorf("size %q is above 1 TiB", s)
	}
	return Size(b), nil
}

func (s Size) String() string {
	switch {
	case s != 0 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	case s != 0 && s%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", s>>10)
	}
	return fmt.Sprintf("%dB", uint64(s))
}

// ParsePercent parses a Percent.
func ParsePercent(s string) (Percent, error) {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, "%") {
		return 0, fmt.Errorf("percentage %q needs a %% sign (write 0.5%%)", s)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
	if err != nil || v < 0 || v > 100 || math.IsNaN(v) {
		return 0, fmt.Errorf("invalid percentage %q (0%%..100%%)", s)
	}
	return Percent(v), nil
}

func (p Percent) String() string { return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%" }

// FlowRate is an application send rate: a bit or byte rate (5mbit, 2MB/s)
// or messages per second (2000/s), or max.
type FlowRate struct {
	Bits uint64  // bits per second (0 with Msgs set, or for max)
	Msgs float64 // messages per second
}

// IsMax reports whether the rate is "as fast as possible".
func (f FlowRate) IsMax() bool { return f.Bits == 0 && f.Msgs == 0 }

func (f FlowRate) String() string {
	switch {
	case f.Msgs > 0:
		return strconv.FormatFloat(f.Msgs, 'f', -1, 64) + "/s"
	case f.Bits > 0:
		return Rate(f.Bits).String()
	}
	return Max
}

// ParseFlowRate parses a FlowRate.
func ParseFlowRate(s string) (FlowRate, error) {
	s = strings.TrimSpace(s)
	if s == Max {
		return FlowRate{}, nil
	}
	if n, ok := strings.CutSuffix(s, "/s"); ok {
		if v, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil {
			if v <= 0 || v > 1e7 || math.IsNaN(v) {
				return FlowRate{}, fmt.Errorf("message rate %q outside 0..10000000/s", s)
			}
			return FlowRate{Msgs: v}, nil
		}
	}
	r, err := ParseRate(s)
	if err != nil {
		return FlowRate{}, fmt.Errorf("%w, messages per second like 2000/s, or max", err)
	}
	return FlowRate{Bits: uint64(r)}, nil
}

// UnmarshalText parses a Duration (encoding.TextUnmarshaler).
func (d *Duration) UnmarshalText(b []byte) (err error) { *d, err = ParseDuration(string(b)); return }

// UnmarshalText parses a Size.
func (s *Size) UnmarshalText(b []byte) (err error) { *s, err = ParseSize(string(b)); return }

// UnmarshalText parses a Percent.
func (p *Percent) UnmarshalText(b []byte) (err error) { *p, err = ParsePercent(string(b)); return }

// UnmarshalText parses a Rate; the word max stands for no limit (0).
func (r *Rate) UnmarshalText(b []byte) (err error) {
	s := string(b)
	if strings.TrimSpace(s) == Max {
		*r = 0
		return nil
	}
	*r, err = ParseRate(s)
	if err != nil {
		err = fmt.Errorf("%w, or max", err)
	}
	return
}

// UnmarshalText parses a FlowRate.
func (f *FlowRate) UnmarshalText(b []byte) (err error) { *f, err = ParseFlowRate(string(b)); return }

// MarshalText writes the duration as a file would (String).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalText writes the rate with its unit, or max.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// MarshalText writes the size with its unit.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalText writes the percentage with its % sign.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// MarshalText writes the flow rate as a file would.
func (f FlowRate) MarshalText() ([]byte, error) { return []byte(f.String()), nil }
