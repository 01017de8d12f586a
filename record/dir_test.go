package record

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateNewOrEmpty(t *testing.T) {
	base := t.TempDir()
	d, err := Create(filepath.Join(base, "a", "b", "run"))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	if d, err := Create(empty); err != nil {
		t.Errorf("an empty directory: %v", err)
	} else {
		d.Close()
	}
	full := filepath.Join(base, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if _, err := Create(full); !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "holds x") {
		t.Errorf("a directory with a file: %v", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(empty, link)
	if _, err := Create(link); !errors.Is(err, ErrSymlink) {
		t.Errorf("a link to an empty directory: %v", err)
	}
	if _, err := Open(link); !errors.Is(err, ErrSymlink) {
		t.Errorf("Open of a link to a directory: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Create(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
}

// TestNoWriteThroughLinks: a link planted under every name is refused by
// each way of writing, and the file it points at is unchanged.
func TestNoWriteThroughLinks(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.WriteFile(outside, []byte("precious"), 0o644)
	dir := filepath.Join(base, "run")
	d, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	os.Symlink(outside, filepath.Join(dir, "report.json"))
	if err := d.WriteFile("report.json", []byte("x")); !errors.Is(err, ErrSymlink) {
		t.Errorf("WriteFile through a link: %v", err)
	}
	if _, err := d.Create("report.json"); err == nil {
		t.Error("Create over a link")
	}
	if _, err := d.CreateAppend("report.json"); err == nil {
		t.Error("CreateAppend over a link")
	}
	if _, err := d.Open("report.json"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Open of a link: %v", err)
	}
	for _, name := range []string{"../x", "a/b", "", ".", ".."} {
		if err := d.WriteFile(name, nil); err == nil {
			t.Errorf("WriteFile(%q) accepted", name)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Errorf("the file outside changed: %q", b)
	}
	// A directory swapped for a link after it was opened: writes still go
	// to the directory that was opened.
	moved := filepath.Join(base, "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	os.Symlink(base, dir)
	if err := d.WriteFile("meta.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moved, "meta.json")); err != nil {
		t.Errorf("write did not land in the opened directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "meta.json")); err == nil {
		t.Error("write followed the swapped-in link")
	}
}

func TestWriteFileReplacesAndReads(t *testing.T) {
	d, err := Create(filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, v := range []string{"one", "two"} {
		if err := d.WriteFile("r.txt", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if b, err := d.ReadFile("r.txt", 10); err != nil || string(b) != v {
			t.Errorf("read %q %v, want %q", b, err, v)
		}
	}
	if _, err := d.ReadFile("r.txt", 2); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit: %v", err)
	}
	if _, err := d.Create("r.txt"); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create of an existing file: %v", err)
	}
	ents, _ := os.ReadDir(d.Path)
	if len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if p, err := d.Mkdir("p00"); err != nil || filepath.Base(p) != "p00" {
		t.Errorf("Mkdir: %s %v", p, err)
	}
}

// TestEventVocabularies: every side and event kind reads back as itself;
// a line with a side or kind outside the tables is refused with its line.
func TestEventVocabularies(t *testing.T) {
	var lines strings.Builder
	for _, k := range EventKinds {
		for _, s := range Sides {
			b, err := json.Marshal(Event{Side: s, Kind: k})
			if err != nil {
				t.Fatal(err)
			}
			lines.Write(append(b, '\n'))
		}
	}
	evs, err := DecodeEvents(strings.NewReader(lines.String()), "events.jsonl")
	if err != nil || len(evs) != len(EventKinds)*len(Sides) {
		t.Fatalf("read back %d events of %d: %v", len(evs), len(EventKinds)*len(Sides), err)
	}
	for i, e := range evs {
		if e.Kind != EventKinds[i/len(Sides)] || e.Side != Sides[i%len(Sides)] {
			t.Errorf("event %d read back as %s/%s", i, e.Side, e.Kind)
		}
	}
	_, err = DecodeEvents(strings.NewReader(`{"t":1,"side":"sender","event":"connected"}`+"\n"+`{"t":2,"side":"sender","event":"teleported"}`+"\n"), "events.jsonl")
	if err == nil || !strings.Contains(err.Error(), "events.jsonl:2") || !strings.Contains(err.Error(), `unknown event kind "teleported"`) {
		t.Errorf("an unknown kind: %v", err)
	}
	_, err = DecodeEvents(strings.NewReader(`{"t":1,"side":"middle","event":"connected"}`+"\n"), "events.jsonl")
	if err == nil || !strings.Contains(err.Error(), `unknown side "middle"`) {
		t.Errorf("an unknown side: %v", err)
	}
}
