// Package vocab reads and lists tcplab's typed vocabularies: string types
// with one table of their values (report.Class, record.Side, impair.Dir,
// netem.Backend, …). Each type's UnmarshalText calls Parse; error messages
// and schemas list the table with Names. It imports nothing of tcplab's,
// so every package may use it.
package vocab

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse sets *v to the entry of table spelled s, or says what is accepted;
// what names the vocabulary in the error ("class", "direction").
func Parse[T ~string](v *T, table []T, s, what string) error {
	for _, t := range table {
		if string(t) == s {
			*v = t
			return nil
		}
	}
	quoted := make([]string, len(table))
	for i, t := range table {
		quoted[i] = strconv.Quote(string(t))
	}
	return fmt.Errorf("unknown %s %q; accepted: %s", what, s, strings.Join(quoted, ", "))
}

// Names are the table's values as text, in its order.
func Names[T ~string](table []T) []string {
	out := make([]string, len(table))
	for i, t := range table {
		out[i] = string(t)
	}
	return out
}
