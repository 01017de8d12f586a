package scenario

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/tcplab/tcplab/scenario/units"
)

// Reference renders the field reference of the scenario format as a Markdown
// table, generated from the Go types and their doc/default tags.
// docs/scenario.md embeds it; a test keeps the two in step.
func Reference() string {
	var b strings.Builder
	b.WriteString("| field | value | default | meaning |\n|---|---|---|---|\n")
	refType(&b, reflect.TypeOf(Scenario{}), "")
	return b.String()
}

func refType(b *strings.Builder, t reflect.Type, path string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" || name == "-" {
			continue
		}
		p := join(path, name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", p, valueKind(ft), orDash(f.Tag.Get("default")), f.Tag.Get("doc"))
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(scalarType) {
			refType(b, ft, p)
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !reflect.PointerTo(ft.Elem()).Implements(scalarType) {
			refType(b, ft.Elem(), p+"[]")
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func valueKind(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(units.Duration(0)):
		return "duration (`150ms`, `2s`)"
	case reflect.TypeOf(units.Rate(0)):
		return "rate (`20mbit`, `2MB/s`, `max`)"
	case reflect.TypeOf(units.Size(0)):
		return "size (`64KiB`, `1MB`)"
	case reflect.TypeOf(units.Percent(0)):
		return "percentage (`0.5%`)"
	case reflect.TypeOf([]Expect{}):
		return "list of expectations"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "mapping"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "`true` / `false`"
	case reflect.Int:
		return "whole number"
	case reflect.Slice:
		return "list"
	case reflect.Map:
		return "mapping of names to text"
	}
	return t.String()
}
