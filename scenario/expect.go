package scenario

import (
	"fmt"
	"strings"
)

// Verdict classes an expectation can name.
var VerdictClasses = []string{"sender-limited", "receiver-limited", "network-limited", "mixed"}

// Expect is one check on the run's outcome, kept with its source text.
//
// Grammar (version 1):
//
//	verdict == CLASS
//	verdict != CLASS
//
// CLASS is one of VerdictClasses. Later versions add shares, lag and
// disconnect checks; until then anything else is an error.
type Expect struct {
	Source string
	Metric string // "verdict"
	Op     string // "==" or "!="
	Value  string
}

// ParseExpect parses one expectation.
func ParseExpect(s string) (Expect, error) {
	src := strings.TrimSpace(s)
	accepted := fmt.Sprintf("accepted: 'verdict == CLASS' or 'verdict != CLASS' with CLASS one of %s", strings.Join(VerdictClasses, ", "))
	f := strings.Fields(src)
	if len(f) != 3 {
		return Expect{}, fmt.Errorf("cannot read expectation %q (%s)", src, accepted)
	}
	if f[0] != "verdict" {
		return Expect{}, fmt.Errorf("unknown metric %q in %q (%s)", f[0], src, accepted)
	}
	if f[1] != "==" && f[1] != "!=" {
		return Expect{}, fmt.Errorf("unknown operator %q in %q (%s)", f[1], src, accepted)
	}
	ok := false
	for _, c := range VerdictClasses {
		ok = ok || c == f[2]
	}
	if !ok {
		return Expect{}, fmt.Errorf("unknown verdict %q in %q (%s)", f[2], src, accepted)
	}
	return Expect{Source: src, Metric: f[0], Op: f[1], Value: f[2]}, nil
}

// Holds reports whether the expectation holds for the run's verdict class.
func (e Expect) Holds(verdict string) bool {
	if e.Op == "!=" {
		return verdict != e.Value
	}
	return verdict == e.Value
}
