package labtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLeftovers(t *testing.T) {
	NetnsDir, SlotDir = t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(NetnsDir, "tcplab-abcd1234-snd"), nil, 0o444)
	os.WriteFile(filepath.Join(NetnsDir, "tcplab-abcd12345-snd"), nil, 0o444)
	os.WriteFile(filepath.Join(SlotDir, "00042"), []byte("abcd1234 1 2\n"), 0o644)
	got := Leftovers("abcd1234")
	if len(got) != 2 || got[0] != "namespace tcplab-abcd1234-snd" || got[1] != "address slot 00042" {
		t.Errorf("Leftovers = %q", got)
	}
	if got := Leftovers("ffff0000"); len(got) != 0 {
		t.Errorf("another run's: %q", got)
	}
}
