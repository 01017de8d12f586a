package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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
// schema (what an editor would check), and each names it in its
// yaml-language-server modeline; files that tcplab refuses for a wrong field,
// value or unit are flagged by the schema too.
func TestSchemaAcceptsShipped(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	for _, name := range scenarios.Names() {
		b, err := scenarios.Read(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# yaml-language-server: $schema=../docs/scenario.schema.json\n") {
			t.Errorf("%s.yaml does not start with the schema modeline", name)
		}
		if errs := schemaCheck(t, schema, b); len(errs) > 0 {
			t.Errorf("%s.yaml against the schema: %v", name, errs)
		}
	}
	for _, c := range []struct{ src, want string }{
		{"duraton: 5s\n", "duraton: not a field"},
		{"link: { backend: tc }\n", "link.backend: tc is not one of"},
		{"duration: 5\n", "duration: 5 is a integer, want string"},
		{"timeline: [ { at: 2 seconds, partition: both } ]\n", "timeline[0].at: \"2 seconds\" does not match"},
		{"link: { down: { loss: 1 } }\n", "link.down.loss: 1 is a integer"},
	} {
		if _, err := Parse("bad.yaml", []byte(c.src)); err == nil {
			t.Errorf("tcplab accepts %q", c.src)
		}
		errs := schemaCheck(t, schema, []byte(c.src))
		if !strings.Contains(fmt.Sprint(errs), c.want) {
			t.Errorf("%q: schema says %v, want %q", c.src, errs, c.want)
		}
	}
}

// schemaCheck validates a YAML document against the subset of JSON Schema
// that Schema emits: type, properties, additionalProperties, required,
// enum, pattern, items, minItems, propertyNames.
func schemaCheck(t *testing.T, schema map[string]any, src []byte) []string {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var errs []string
	var walk func(s map[string]any, v any, path string)
	walk = func(s map[string]any, v any, path string) {
		if !schemaTypeOK(s["type"], v) {
			errs = append(errs, fmt.Sprintf("%s: %v is a %s, want %v", path, v, jsonKind(v), s["type"]))
			return
		}
		if enum, ok := s["enum"].([]any); ok {
			found := false
			for _, e := range enum {
				found = found || e == v
			}
			if !found {
				errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", path, v, enum))
			}
		}
		if p, ok := s["pattern"].(string); ok {
			if str, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(str) {
				errs = append(errs, fmt.Sprintf("%s: %q does not match %s", path, str, p))
			}
		}
		switch v := v.(type) {
		case map[string]any:
			props, _ := s["properties"].(map[string]any)
			for k, x := range v {
				p := strings.TrimPrefix(path+"."+k, ".")
				if pn, ok := s["propertyNames"].(map[string]any); ok && !regexp.MustCompile(pn["pattern"].(string)).MatchString(k) {
					errs = append(errs, fmt.Sprintf("%s: bad key", p))
				}
				if ps, ok := props[k].(map[string]any); ok {
					walk(ps, x, p)
					continue
				}
				switch ap := s["additionalProperties"].(type) {
				case bool:
					if !ap {
						errs = append(errs, fmt.Sprintf("%s: not a field", p))
					}
				case map[string]any:
					walk(ap, x, p)
				}
			}
		case []any:
			if n, ok := s["minItems"].(float64); ok && len(v) < int(n) {
				errs = append(errs, fmt.Sprintf("%s: fewer than %v items", path, n))
			}
			if items, ok := s["items"].(map[string]any); ok {
				for i, x := range v {
					walk(items, x, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		}
	}
	walk(schema, doc, "")
	return errs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64:
		return "integer"
	case float64:
		return "number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func schemaTypeOK(want, v any) bool {
	if want == nil {
		return true
	}
	k := jsonKind(v)
	for _, w := range append(asList(want), want) {
		if w == k || (w == "number" && k == "integer") {
			return true
		}
	}
	return false
}
