package report

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVocabularies: every class and sub-cause reads back as itself from
// JSON; text outside the table is refused, naming what is known.
func TestVocabularies(t *testing.T) {
	for _, c := range Classes {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Class
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Errorf("class %q: read back %q, %v", c, back, err)
		}
	}
	for _, c := range SubCauses {
		b, _ := json.Marshal(c)
		var back SubCause
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Errorf("sub-cause %q: read back %q, %v", c, back, err)
		}
	}
	var v Verdict
	err := json.Unmarshal([]byte(`{"class":"cpu-limited"}`), &v)
	if err == nil || !strings.Contains(err.Error(), `unknown class "cpu-limited"`) || !strings.Contains(err.Error(), `"receiver-limited"`) {
		t.Errorf("an unknown class: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"class":"mixed","sub_cause":"gremlins"}`), &v); err == nil {
		t.Errorf("an unknown sub-cause was read")
	}
	if err := json.Unmarshal([]byte(`{"class":"mixed","class_shares":{"mixed":1,"sender-limited":0}}`), &v); err != nil || v.ClassShares[Mixed] != 1 {
		t.Errorf("class shares: %v %v", v.ClassShares, err)
	}
}
