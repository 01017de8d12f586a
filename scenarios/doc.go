// Package scenarios is the shipped scenario library, embedded in the tcplab
// binary. Each file carries an expect: block, so each doubles as a test.
package scenarios

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// FS holds the shipped scenario files.
var FS fs.FS = files

// Names lists the shipped scenarios (file names without .yaml), sorted.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Read returns the bytes of the shipped scenario called name.
func Read(name string) ([]byte, error) {
	return fs.ReadFile(files, name+".yaml")
}
