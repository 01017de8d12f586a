package report

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tcplab/tcplab/internal/labtest"
	"github.com/tcplab/tcplab/internal/testlock"
	"github.com/tcplab/tcplab/record"
)

// TestHTMLInChromium opens a real report.html in headless Chromium: no
// console errors, every chart has drawn paths, and the screenshot is not
// blank. CI installs Debian's chromium; elsewhere the test skips.
func TestHTMLInChromium(t *testing.T) {
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" && os.Getenv("CI") == "true" {
		t.Fatal("CI must open report.html in a browser: .ci/run installs chromium")
	}
	if bin == "" {
		t.Skip("no chromium on this machine (apt-get install chromium); .ci/run installs it")
	}
	// A browser loads both cores for seconds: not next to the timing tests.
	release, err := testlock.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	samples, events := labtest.ReadRecorded(t, filepath.Join("testdata", "receiver-limited-cubic"))
	sum := Build(record.Meta{Scenario: "browser", RunID: "t", DurationS: 3, WindowS: 0.25, Stopped: "completed",
		Link: &record.LinkRecord{Backend: "userspace"}}, samples, events, 250e6)
	var page bytes.Buffer
	if err := WriteHTML(&page, &sum); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
		"--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0"}
	run := func(extra ...string) (string, string) {
		cmd := exec.Command(bin, append(append(base, extra...), "file://"+file)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.WaitDelay = 5 * time.Second
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("chromium: %v\n%s", err, errb.String())
			}
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			t.Fatal("chromium did not finish in 90 s")
		}
		return out.String(), errb.String()
	}
	dom, logs := run("--dump-dom")
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") {
			t.Errorf("console message: %s", l)
		}
	}
	charts := regexp.MustCompile(`(?s)<svg class="chart" data-chart="([a-z]+)".*?</svg>`).FindAllStringSubmatch(dom, -1)
	want := []string{"verdict", "throughput", "lag", "windows", "rtt", "retransmits"}
	if len(charts) != len(want) {
		t.Fatalf("%d charts in the rendered page, want %d", len(charts), len(want))
	}
	pathRE := regexp.MustCompile(`<path [^>]*d="M[0-9.]+ [0-9.]+[^"]*[LHV][^"]*"`)
	for i, c := range charts {
		if c[1] != want[i] {
			t.Errorf("chart %d is %q, want %q", i, c[1], want[i])
		}
		if c[1] == "lag" {
			// The recorded run predates the lag series: it must say so.
			if !strings.Contains(c[0], "(no data)") {
				t.Errorf("lag chart without data does not say so")
			}
			continue
		}
		if !pathRE.MatchString(c[0]) {
			t.Errorf("chart %s has no drawn path", c[1])
		}
	}
	shot := filepath.Join(dir, "shot.png")
	run("--window-size=1050,2000", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	ink := 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			if cr, cg, cb, _ := img.At(x, y).RGBA(); cr < 0xe000 || cg < 0xe000 || cb < 0xe000 {
				ink++
			}
		}
	}
	if frac := float64(ink) / float64(r.Dx()*r.Dy()/4); frac < 0.02 {
		t.Errorf("screenshot is nearly blank: %.1f%% of pixels drawn", 100*frac)
	}
}
