package scenario

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario/units"
)

// SchemaURL is where the published scenario schema lives; starter files
// name it in their yaml-language-server modeline.
const SchemaURL = "https://raw.githubusercontent.com/tcplab/tcplab/main/docs/scenario.schema.json"

// schemaEnums are the accepted values of text fields, by struct and field.
var schemaEnums = map[reflect.Type]map[string][]string{
	reflect.TypeOf(Link{}):          {"Backend": Backends},
	reflect.TypeOf(NAT{}):           {"Expired": NATExpired},
	reflect.TypeOf(Direction{}):     {"Distribution": vocab.Names(impair.Distributions)},
	reflect.TypeOf(TimelineEntry{}): {"Partition": Partitions, "Reboot": RebootSides, "Freeze": RebootSides, "Kill": RebootSides},
	reflect.TypeOf(Refusal{}):       {"Mode": RefusalModes},
	reflect.TypeOf(Message{}):       {"Distribution": SizeDistributions},
	reflect.TypeOf(Socket{}):        {"Congestion": CongestionAlgorithms},
}

// Schema returns the JSON Schema (draft-07) of the scenario format,
// generated from the Go types and their doc/default tags like Reference,
// so that editors (yaml-language-server) complete and check scenario
// files. docs/scenario.schema.json holds it; a test keeps the two in step.
func Schema() []byte {
	root := schemaStruct(reflect.TypeOf(Scenario{}))
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["$id"] = SchemaURL
	root["title"] = "tcplab scenario"
	root["description"] = "A tcplab scenario: a sender and a receiver in network namespaces over an impaired link. Reference: docs/scenario.md."
	props := root["properties"].(map[string]any)
	props["matrix"] = map[string]any{
		"description": "Makes the file a sweep: every combination of these values runs as a point of its own. Keys are field paths (names joined by dots, list entries as [N], like receiver.socket.keepalive.idle or timeline[0].partition); values are lists of what the field takes.",
		"type":        "object",
		"propertyNames": map[string]any{
			"pattern": `^[a-z0-9_-]+(\[[0-9]+\])*(\.[a-z0-9_-]+(\[[0-9]+\])*)*$`,
		},
		"additionalProperties": map[string]any{"type": "array", "minItems": 1},
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // maps of strings, lists and bools always encode
	}
	return append(b, '\n')
}

func schemaStruct(t reflect.Type) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		s := schemaType(ft)
		if doc := f.Tag.Get("doc"); doc != "" {
			s["description"] = doc
		}
		if def := f.Tag.Get("default"); def != "" {
			s["description"] = strings.TrimSpace(s["description"].(string) + " Default: " + def + ".")
		}
		if enum := schemaEnums[t][f.Name]; enum != nil {
			s["enum"] = enum
		}
		props[name] = s
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

func schemaType(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeOf(units.Duration(0)):
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$`}
	case reflect.TypeOf(units.Percent(0)):
		return map[string]any{"type": "string", "pattern": `^\s*[0-9.]+\s*%$`}
	case reflect.TypeOf(units.Rate(0)), reflect.TypeOf(units.Size(0)), reflect.TypeOf(units.FlowRate{}):
		return map[string]any{"type": []string{"string", "integer"}}
	case reflect.TypeOf(Expect{}):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Struct:
		return schemaStruct(t)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaType(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaType(t.Elem())}
	}
	panic("scenario schema: no JSON type for " + t.String())
}
