package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/tcplab/tcplab/peers"
)

// validate checks a decoded, defaulted scenario. pos maps field paths to
// where they were written (a defaulted field points at its parent or 1:1).
func (s *Scenario) validate(pos map[string]Pos, file string) Errors {
	var errs Errors
	at := func(path string) Pos {
		for p := path; p != ""; {
			if ps, ok := pos[p]; ok {
				return ps
			}
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		return Pos{file, 1, 1}
	}
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Pos: at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(s.Name) {
		bad("name", "%q is not a valid name (1-64 of letters, digits, '.', '_', '-', starting with a letter or digit)", s.Name)
	}
	if d := time.Duration(s.Duration); d < time.Second || d > time.Hour {
		bad("duration", "%v is outside 1s..1h", d)
	}
	if d := time.Duration(s.SampleInterval); d < time.Millisecond || d > time.Second {
		bad("sample_interval", "%v is outside 1ms..1s", d)
	} else if s.SampleInterval >= s.Duration {
		bad("sample_interval", "%v is not below duration %v", time.Duration(s.SampleInterval), time.Duration(s.Duration))
	}
	if w := time.Duration(s.Window); w < 100*time.Millisecond || s.Window > s.Duration {
		bad("window", "%v is outside 100ms..duration (%v)", w, time.Duration(s.Duration))
	} else if s.Window < s.SampleInterval*2 {
		bad("window", "%v holds fewer than two samples at sample_interval %v", w, time.Duration(s.SampleInterval))
	}
	for _, d := range []struct {
		name string
		dir  *Direction
	}{{"link.both", s.Link.Both}, {"link.down", s.Link.Down}, {"link.up", s.Link.Up}} {
		if d.dir != nil && d.dir.Rate != nil && *d.dir.Rate != 0 {
			if *d.dir.Rate < 8000 {
				bad(d.name+".rate", "%v is below 8kbit, too slow for a TCP handshake to finish in time", *d.dir.Rate)
			}
			if uint64(*d.dir.Rate) > uint64(^uint32(0))*8 {
				bad(d.name+".rate", "%v is above the rate limiter's maximum of 34gbit; use max for no limit", *d.dir.Rate)
			}
		}
	}
	if p := s.Sender.Port; p < 1 || p > 65535 {
		bad("sender.port", "%d is outside 1..65535", p)
	}
	if m := s.Sender.Message.Size; m < peers.MinMessageSize || m > 1<<20 {
		bad("sender.message.size", "%v is outside %dB..1MiB", m, peers.MinMessageSize)
	}
	if r := s.Sender.Rate; r != nil && *r != 0 && *r < 1000 {
		bad("sender.rate", "%v is below 1kbit", *r)
	}
	if r := s.Receiver.Read.Rate; r != nil && *r != 0 && *r < 8000 {
		bad("receiver.read.rate", "%v is below 1KB/s", *r)
	}
	if z := s.Receiver.Read.Size; z < 1 || z > 16<<20 {
		bad("receiver.read.size", "%v is outside 1B..16MiB", z)
	}
	for _, side := range []struct {
		name string
		so   Socket
	}{{"sender.socket", s.Sender.Socket}, {"receiver.socket", s.Receiver.Socket}} {
		for _, b := range []struct {
			f string
			v Size
		}{{"sndbuf", side.so.Sndbuf}, {"rcvbuf", side.so.Rcvbuf}} {
			if b.v != 0 && (b.v < 1024 || b.v > 1<<30) {
				bad(side.name+"."+b.f, "%v is outside 1KiB..1GiB", b.v)
			}
		}
		if cc := side.so.Congestion; cc != "" {
			ok := false
			for _, c := range CongestionAlgorithms {
				ok = ok || c == cc
			}
			if !ok {
				bad(side.name+".congestion", "unknown congestion control %q; accepted: %s", cc, strings.Join(CongestionAlgorithms, ", "))
			}
		}
	}
	return errs
}
