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
// package may import, each named exactly (a subpackage is listed on its own).
// A package not in the table may import nothing of ours.
var allowed = map[string][]string{
	"cmd/tcplab":        {"*"},
	"lab":               {"scenario", "scenario/units", "netem", "netem/impair", "netem/userspace", "peers", "tcpinfo", "record", "report", "wire", "internal/hist"},
	"record":            {"tcpinfo", "internal/vocab"},
	"scenario":          {"scenario/units", "netem/impair", "internal/vocab"},
	"scenario/units":    {},
	"report":            {"record", "tcpinfo", "scenario/units", "internal/hist", "internal/vocab"},
	"peers":             {"record", "tcpinfo", "internal/hist"},
	"netem":             {"netem/impair", "netem/userspace", "internal/vocab"},
	"netem/userspace":   {"netem/impair", "internal/hist"},
	"wire":              {"record"},
	"watch":             {"netem", "record", "report", "tcpinfo"},
	"netem/impair":      {"internal/vocab"},
	"tcpinfo":           {},
	"scenarios":         {},
	"internal/hist":     {},
	"internal/vocab":    {},
	"internal/arch":     {},
	"internal/testlock": {},
	"internal/labtest":  {"record", "tcpinfo"},
}

// TestImportRules checks every package's non-test imports against allowed.
func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	found, unknown, err := violations(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range unknown {
		t.Errorf("package %s is not in the import table (internal/arch and docs/design.md): add it", p)
	}
	for _, v := range found {
		t.Errorf("forbidden import: %s (see the table in docs/design.md)", v)
	}
}

// TestImportRulesCatch: the checker finds a forbidden import and a package
// missing from the table in a made-up tree.
func TestImportRulesCatch(t *testing.T) {
	root := t.TempDir()
	write := func(rel, src string) {
		if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel, "x.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("report", "package report\nimport _ \""+module+"peers\"\nimport _ \""+module+"scenario/units\"\n")
	write("scenario", "package scenario\nimport _ \""+module+"netem\"\nimport _ \""+module+"netem/impair\"\n")
	write("peers", "package peers\nimport _ \""+module+"record\"\n")
	write("newpkg", "package newpkg\n")
	found, unknown, err := violations(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"report -> peers", "scenario -> netem"}; !slices.Equal(found, want) {
		t.Errorf("violations %q, want %q", found, want)
	}
	if !slices.Equal(unknown, []string{"newpkg"}) {
		t.Errorf("packages not in the table %q, want [newpkg]", unknown)
	}
}

// violations walks the module at root and returns each import the table
// forbids ("pkg -> dep", sorted) and each package missing from the table.
func violations(root string) (found, unknown []string, err error) {
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
			unknown = append(unknown, rel)
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
	sort.Strings(found)
	return found, unknown, err
}
