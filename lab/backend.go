package lab

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario"
)

var netemProbe = sync.OnceValue(func() error { return netem.HaveQdisc("netem") })

// needsNetem reports whether any state of the link during the run (its base
// settings and every timeline change) needs a netem qdisc, i.e. more than
// a rate that tbf can shape.
func needsNetem(s *scenario.Scenario) bool {
	check := func(l scenario.Link) bool {
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
	for _, e := range s.EffectiveTimeline() {
		if e.Link != nil && check(s.Link.Apply(e.Link)) {
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
func chooseBackend(s *scenario.Scenario) (backend netem.Backend, why string, err error) {
	need := needsNetem(s)
	switch s.Link.Backend {
	case "userspace":
		return netem.Userspace, "link.backend: userspace", nil
	}
	if hasTrace(s) {
		if s.Link.Backend == "netem" {
			return "", "", fmt.Errorf("link.backend: netem asked, but a delivery trace (link.*.trace) is made by the userspace link only: netem has no per-opportunity delivery; use backend userspace or auto")
		}
		return netem.Userspace, "auto: a delivery trace is made by the userspace link only", nil
	}
	if s.Link.NAT != nil {
		return netem.Userspace, "auto: a scenario.NAT that forgets idle connections is made by the userspace link only", nil
	}
	for _, e := range s.EffectiveTimeline() {
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
		return netem.Kernel, "link.backend: netem; no netem parameter is set, so tbf or nothing does it", nil
	}
	if !need {
		return netem.Kernel, "auto: only a rate or nothing is asked, which the kernel does without sch_netem", nil
	}
	if perr := netemProbe(); perr != nil {
		if errors.Is(perr, netem.ErrNotSupported) {
			// The probe's own words stay in tcplab doctor: one reason here.
			return netem.Userspace, "auto: this kernel has no sch_netem, so the userspace link does it", nil
		}
		return netem.Userspace, fmt.Sprintf("auto: sch_netem could not be tried here, so the userspace link does it: %v", perr), nil
	}
	return netem.Kernel, "auto: the kernel has sch_netem", nil
}

// Link mechanisms: what actually made the link (record.LinkRecord.Mechanism).
const (
	MechUserspace = "userspace link"
	MechNetem     = "kernel netem"
	MechTbf       = "kernel tbf"
	MechNone      = "kernel veth, unimpaired"
)

// linkMechanism names what makes the link on backend: the userspace link,
// or the kernel's netem, tbf, or nothing at all.
func linkMechanism(s *scenario.Scenario, backend netem.Backend) string {
	if backend == netem.Userspace {
		return MechUserspace
	}
	if needsNetem(s) {
		return MechNetem
	}
	rated := func(l scenario.Link) bool {
		down, up := l.Impairments()
		return down.RateBits > 0 || up.RateBits > 0
	}
	if rated(s.Link) {
		return MechTbf
	}
	for _, e := range s.EffectiveTimeline() {
		if e.Link != nil && rated(s.Link.Apply(e.Link)) {
			return MechTbf
		}
	}
	return MechNone
}

// hasTrace says whether the link, or a timeline change of it, delivers by
// a trace.
func hasTrace(s *scenario.Scenario) bool {
	check := func(l scenario.Link) bool {
		down, up := l.Impairments()
		return down.Trace != nil || up.Trace != nil
	}
	if check(s.Link) {
		return true
	}
	for _, e := range s.EffectiveTimeline() {
		if e.Link != nil && check(s.Link.Apply(e.Link)) {
			return true
		}
	}
	return false
}
