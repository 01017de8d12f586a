package scenario

import (
	"fmt"
	"sync"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/netem/impair"
)

var netemProbe = sync.OnceValue(func() error { return netem.HaveQdisc("netem") })

// needsNetem reports whether any state of the link during the run (its base
// settings and every timeline change) needs a netem qdisc, i.e. more than
// a rate that tbf can shape.
func (s *Scenario) needsNetem() bool {
	check := func(l Link) bool {
		down, up := l.Impairments()
		for _, im := range []impair.Impairment{down, up} {
			if !im.IsZero() && !netem.RateOnly(im) {
				return true
			}
		}
		return false
	}
	if check(s.Link) {
		return true
	}
	for _, e := range s.timeline() {
		if e.Link != nil && check(s.Link.apply(e.Link)) {
			return true
		}
		if e.Partition != "" && e.Partition != "link-down" {
			return true // a blackhole is netem loss 100%
		}
	}
	return false
}

// chooseBackend resolves link.backend to netem.Kernel or netem.Userspace
// and says why. Asking for netem where the kernel lacks it is an error,
// never a silent fallback.
func (s *Scenario) chooseBackend() (backend, why string, err error) {
	need := s.needsNetem()
	switch s.Link.Backend {
	case "userspace":
		return netem.Userspace, "link.backend: userspace", nil
	}
	if s.Link.NAT != nil {
		return netem.Userspace, "auto: a NAT that forgets idle connections is made by the userspace link only", nil
	}
	for _, e := range s.timeline() {
		if e.Reboot != "" {
			return netem.Userspace, "auto: a reboot is answered with RSTs, which only the userspace link makes", nil
		}
	}
	switch s.Link.Backend {
	case "netem":
		if need {
			if perr := netemProbe(); perr != nil {
				return "", "", fmt.Errorf("link.backend: netem asked, but this kernel cannot add a netem qdisc (%v); use backend userspace or auto (see tcplab doctor)", perr)
			}
			return netem.Kernel, "link.backend: netem", nil
		}
		return netem.Kernel, "link.backend: netem (tbf or nothing needed: no netem parameter set)", nil
	}
	if !need {
		return netem.Kernel, "auto: only a rate (tbf) or nothing is asked, the kernel does it", nil
	}
	if perr := netemProbe(); perr != nil {
		return netem.Userspace, fmt.Sprintf("auto: this kernel has no sch_netem (%v)", perr), nil
	}
	return netem.Kernel, "auto: the kernel has sch_netem", nil
}
