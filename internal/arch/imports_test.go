package arch

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tcplab/tcplab/"

// allowed is the table of docs/design.md: the packages of ours each
// package may import (a path allows its subpackages unless listed alone).
// A package not in the table may import nothing of ours.
var allowed = map[string][]string{
	"cmd/tcplab":        {"*"},
	"lab":               {"scenario", "scenario/units", "netem", "netem/impair", "netem/userspace", "peers", "tcpinfo", "record", "report", "internal/hist"},
	"record":            {"tcpinfo"},
	"scenario":          {"scenario/units", "netem/impair"},
	"scenario/units":    {},
	"report":            {"record", "tcpinfo", "scenario/units", "internal/hist"},
	"peers":             {"record", "tcpinfo", "internal/hist"},
	"netem":             {"netem/impair", "netem/userspace"},
	"netem/userspace":   {"netem/impair", "internal/hist"},
	"netem/impair":      {},
	"tcpinfo":           {},
	"scenarios":         {},
	"internal/hist":     {},
	"internal/arch":     {},
	"internal/testlock": {},
	"internal/labtest":  {"*"},
}

// knownViolations are imports the table forbids that the code still has,
// each to be removed by the move that issue 14 describes (orchestration out
// of scenario into lab/). The test fails when one of them is gone too, so
// the list only shrinks.
var knownViolations = []string{
	"scenario -> netem",
	"scenario -> netem/userspace",
	"scenario -> peers",
	"scenario -> record",
	"scenario -> report",
	"scenario -> tcpinfo",
}

// TestImportRules checks every package's non-test imports against allowed.
func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "tools" || name == "docs") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		rules, ok := allowed[rel]
		if !ok {
			t.Errorf("package %s is not in the import table (internal/arch and docs/design.md): add it", rel)
			return nil
		}
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if slices.Contains(rules, "*") || slices.Contains(rules, dep) {
				continue
			}
			found = append(found, rel+" -> "+dep)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	for _, v := range found {
		if !slices.Contains(knownViolations, v) {
			t.Errorf("forbidden import: %s (see the table in docs/design.md)", v)
		}
	}
	for _, v := range knownViolations {
		if !slices.Contains(found, v) {
			t.Errorf("%s is gone: remove it from knownViolations", v)
		}
	}
}
