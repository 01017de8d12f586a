package report

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// Schema returns the JSON Schema (2020-12) of report.json, generated from
// the Summary type: every field with its JSON type, the fields always
// present are required, and no others are allowed.
func Schema() ([]byte, error) {
	root := schemaOf(reflect.TypeOf(Summary{}), map[reflect.Type]bool{})
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/tcplab/tcplab/docs/report.schema.json"
	root["title"] = "tcplab report.json"
	root["description"] = "The report of one tcplab run (schema version in the field schema)."
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func schemaOf(t reflect.Type, seen map[reflect.Type]bool) map[string]any {
	nullable := false
	if t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch t.Kind() {
	case reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s = map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		s = map[string]any{"type": "number"}
	case reflect.String:
		s = map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		s = map[string]any{"type": "array", "items": schemaOf(t.Elem(), seen)}
		nullable = true // a nil slice encodes as null
	case reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), seen)}
		nullable = true
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		addFields(t, props, &required, seen)
		sort.Strings(required)
		s = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
	default:
		s = map[string]any{}
	}
	if nullable {
		s["type"] = []any{s["type"], "null"}
	}
	return s
}

func addFields(t reflect.Type, props map[string]any, required *[]string, seen map[reflect.Type]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			addFields(f.Type, props, required, seen)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, seen)
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}
