package testlock

import "testing"

func TestFuzzWorker(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"-test.fuzzworker", "-test.run=^$"}, true},
		{[]string{"-test.paniconexit0", "--test.fuzzworker=true"}, true},
		{[]string{"-test.fuzz=FuzzParse", "-test.run=x"}, false},
		{[]string{"--", "-test.fuzzworker"}, false},
		{nil, false},
	} {
		if got := FuzzWorker(c.args); got != c.want {
			t.Errorf("FuzzWorker(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
