package scenario

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/scenarios"
)

// TestSchemaInStep fails when docs/scenario.schema.json differs from the
// Go types.
func TestSchemaInStep(t *testing.T) {
	const path = "../docs/scenario.schema.json"
	got, _ := os.ReadFile(path)
	want := Schema()
	if bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of step with the scenario types; run: go test ./scenario -run TestSchemaInStep -update", path)
}

// TestSchemaAcceptsShipped: every shipped scenario validates against the
// schema (what an editor would check), read by someone else's implementation
// of the standard (santhosh-tekuri/jsonschema), and each names it in its
// yaml-language-server modeline; files that tcplab refuses for a wrong
// field, value or unit are flagged by the schema too.
func TestSchemaAcceptsShipped(t *testing.T) {
	sch := labtest.CompileSchema(t, "scenario.schema.json", Schema())
	for _, name := range scenarios.Names() {
		b, err := scenarios.Read(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# yaml-language-server: $schema=../docs/scenario.schema.json\n") {
			t.Errorf("%s.yaml does not start with the schema modeline", name)
		}
		if err := sch.Validate(yamlDoc(t, b)); err != nil {
			t.Errorf("%s.yaml against the schema: %v", name, err)
		}
	}
	for _, c := range []struct{ src, at, want string }{
		{"duraton: 5s\n", "", "duraton"},
		{"link: { backend: tc }\n", "/link/backend", "value must be one of"},
		{"duration: 5\n", "/duration", "want string"},
		{"timeline: [ { at: 2 seconds, partition: both } ]\n", "/timeline/0/at", "does not match pattern"},
		{"link: { down: { loss: 1 } }\n", "/link/down/loss", "want string"},
	} {
		if _, err := Parse("bad.yaml", []byte(c.src)); err == nil {
			t.Errorf("tcplab accepts %q", c.src)
		}
		err := sch.Validate(yamlDoc(t, []byte(c.src)))
		if err == nil || !strings.Contains(err.Error(), "'"+c.at+"'") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: schema says %v, want %q at '%s'", c.src, err, c.want, c.at)
		}
	}
}

// yamlDoc is a YAML document as the JSON values a schema validates.
func yamlDoc(t *testing.T, src []byte) any {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
