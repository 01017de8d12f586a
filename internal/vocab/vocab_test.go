package vocab

import "testing"

type colour string

func TestParse(t *testing.T) {
	table := []colour{"red", "green"}
	var c colour
	if err := Parse(&c, table, "green", "colour"); err != nil || c != "green" {
		t.Errorf("green: %q, %v", c, err)
	}
	err := Parse(&c, table, "blue", "colour")
	if err == nil || err.Error() != `unknown colour "blue"; accepted: "red", "green"` || c != "green" {
		t.Errorf("blue: %q, %v", c, err)
	}
}
