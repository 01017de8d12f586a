package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/record"
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

// TestReportsMatchSchema validates report.json of a recorded run and of a
// fresh Build against the schema, read by someone else's implementation of
// the JSON Schema standard (santhosh-tekuri/jsonschema, draft 2020-12):
// types, required fields, no unknown fields.
func TestReportsMatchSchema(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	sch := labtest.CompileSchema(t, "report.schema.json", b)
	reports := []string{filepath.Join("..", "lab", "testdata", "recorded-run", "report.json")}
	samples, events := labtest.ReadRecorded(t, filepath.Join("testdata", "network-limited-cubic"))
	s := Build(record.Meta{Scenario: "x", Link: &record.LinkRecord{Backend: "netem"}}, samples, events, 250e6)
	js, err := MarshalJSON(&s)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(tmp, js, 0o644); err != nil {
		t.Fatal(err)
	}
	reports = append(reports, tmp)
	for _, r := range reports {
		raw, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s does not match the schema: %v", r, err)
		}
	}
	// The schema is strict: an unknown field and a wrong type are caught.
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	doc["schema"], doc["surprise"] = "one", 1
	err = sch.Validate(doc)
	if err == nil || !strings.Contains(err.Error(), "surprise") || !strings.Contains(err.Error(), "/schema") {
		t.Errorf("a wrong type and an unknown field passed: %v", err)
	}
}
