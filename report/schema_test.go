package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tcplab/tcplab/internal/labtest"
)

var updateSchema = flag.Bool("update", false, "rewrite docs/report.schema.json")

const schemaFile = "../docs/report.schema.json"

// TestSchemaInStep: docs/report.schema.json is what the Summary type says
// (go test ./report -run TestSchemaInStep -update rewrites it).
func TestSchemaInStep(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *updateSchema {
		if err := os.WriteFile(schemaFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(schemaFile)
	if err != nil || !bytes.Equal(have, b) {
		t.Fatalf("%s is out of step with report.Summary (%v); run: go test ./report -run TestSchemaInStep -update", schemaFile, err)
	}
}

// TestReportsMatchSchema validates report.json of a recorded run against
// the schema: types, required fields, no unknown fields.
func TestReportsMatchSchema(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	reports := []string{filepath.Join("..", "lab", "testdata", "recorded-run", "report.json")}
	samples, events := labtest.ReadRecorded(t, filepath.Join("testdata", "network-limited-cubic"))
	s := Build(Meta{Scenario: "x", Link: &LinkRecord{Backend: "netem"}}, samples, events, 250e6)
	js, err := MarshalJSON(&s)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "report.json")
	os.WriteFile(tmp, js, 0o644)
	reports = append(reports, tmp)
	for _, r := range reports {
		raw, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, e := range validate(schema, doc, "$") {
			t.Errorf("%s: %s", r, e)
		}
	}
	// The validator itself: an unknown field and a wrong type are caught.
	bad := map[string]any{"schema": "one", "surprise": 1}
	if errs := validate(schema, bad, "$"); len(errs) < 3 {
		t.Errorf("validator missed errors: %v", errs)
	}
}

// validate checks doc against the subset of JSON Schema that Schema emits.
func validate(s map[string]any, doc any, at string) []string {
	var errs []string
	types := []string{}
	switch t := s["type"].(type) {
	case string:
		types = append(types, t)
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	}
	kind := "null"
	switch v := doc.(type) {
	case bool:
		kind = "boolean"
	case float64:
		kind = "number"
		if v == float64(int64(v)) {
			kind = "integer"
		}
	case string:
		kind = "string"
	case []any:
		kind = "array"
	case map[string]any:
		kind = "object"
	}
	ok := len(types) == 0
	for _, t := range types {
		ok = ok || t == kind || (t == "number" && kind == "integer")
	}
	if !ok {
		return []string{fmt.Sprintf("%s: %s, want %v", at, kind, types)}
	}
	switch v := doc.(type) {
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range v {
				errs = append(errs, validate(items, x, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := v[r.(string)]; !ok {
					errs = append(errs, fmt.Sprintf("%s: missing %s", at, r))
				}
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if props != nil {
				p, ok := props[k].(map[string]any)
				if !ok {
					if s["additionalProperties"] == false {
						errs = append(errs, fmt.Sprintf("%s: unknown field %s", at, k))
					}
					continue
				}
				errs = append(errs, validate(p, v[k], at+"."+k)...)
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				errs = append(errs, validate(ap, v[k], at+"."+k)...)
			}
		}
	}
	return errs
}
