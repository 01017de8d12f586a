package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/tcplab/tcplab/internal/labtest"
)

// shBlocks returns the ```sh blocks of a Markdown file.
func shBlocks(t *testing.T, path string) []string { return fencedBlocks(t, path, "sh") }

// fencedBlocks returns the bodies of a Markdown file's ```lang blocks.
func fencedBlocks(t *testing.T, path, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+regexp.QuoteMeta(lang)+"\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDocumentedCommands runs every ```sh block of the README and docs/ as
// shown, in order, one fresh directory per file, with `tcplab` being this
// build and `sudo` a pass-through (the test runs as root): a command that
// fails, or a scenario whose expectations fail, fails the test. The
// README's `go run ./cmd/tcplab` is tcplab; its `go test` line is the command
// running this test.
func TestDocumentedCommands(t *testing.T) {
	labtest.RequireRoot(t)
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + asMainEnv + "=1 exec " + shellQuote(os.Args[0]) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "tcplab"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	ran := 0
	for _, f := range files {
		blocks := shBlocks(t, f)
		if len(blocks) == 0 {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			work := t.TempDir()
			if out, err := exec.Command("cp", "-r", "../../scenarios", work).CombinedOutput(); err != nil {
				t.Fatalf("copy scenarios: %v\n%s", err, out)
			}
			for i, block := range blocks {
				script := strings.ReplaceAll(block, "go run ./cmd/tcplab", "tcplab")
				script = regexp.MustCompile(`(?m)^go test .*$`).ReplaceAllString(script, ": the test command, running now")
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Errorf("%s, block %d failed: %v\n--- block\n%s--- output\n%s", f, i+1, err, block, out)
					return
				}
				ran++
			}
		})
	}
	if ran < 8 {
		t.Errorf("ran %d documented blocks; the README and docs hold more", ran)
	}
	// The README starts with the two commands: the quickstart and the tests.
	first := shBlocks(t, "../../README.md")[0]
	if !strings.Contains(first, "go run ./cmd/tcplab run ") || !strings.Contains(first, "go test -count=1 ./...") {
		t.Errorf("the README's first block is not the two commands:\n%s", first)
	}
	// .ci/run calls that same test command.
	if ci, _ := os.ReadFile("../../.ci/run"); !strings.Contains(string(ci), "\ngo test -count=1 ./...\n") {
		t.Error(".ci/run does not run the README's test command")
	}
	// The workflow in the recipes is the example workflow file.
	rec, _ := os.ReadFile("../../docs/recipes.md")
	wf, err := os.ReadFile("../../.github/workflows/example.yml")
	if err != nil || !strings.Contains(string(rec), "```yaml\n"+string(wf)+"```") {
		t.Errorf(".github/workflows/example.yml differs from the workflow in docs/recipes.md (%v)", err)
	}
	// The workflow's own steps run as written: the scenarios, then the
	// step summary (go env GOPATH answered by a stand-in, its bin/tcplab
	// being this build).
	var w struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string `yaml:"name"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(wf, &w); err != nil {
		t.Fatalf("example.yml: %v", err)
	}
	gopath := t.TempDir()
	os.MkdirAll(filepath.Join(gopath, "bin"), 0o755)
	os.WriteFile(filepath.Join(gopath, "bin", "tcplab"), []byte(wrapper), 0o755)
	os.WriteFile(filepath.Join(bin, "go"), []byte("#!/bin/sh\n[ \"$1 $2\" = \"env GOPATH\" ] && echo "+shellQuote(gopath)+" && exit 0\nexit 1\n"), 0o755)
	work := t.TempDir()
	exec.Command("cp", "-r", "../../scenarios", work).Run()
	summary := filepath.Join(work, "step-summary.md")
	steps := 0
	for _, job := range w.Jobs {
		for _, st := range job.Steps {
			if st.Run == "" || strings.HasPrefix(st.Name, "Install") {
				continue // installing is `go install`, which the module proxy serves once published
			}
			cmd := exec.Command("bash", "-eo", "pipefail", "-c", st.Run)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GITHUB_STEP_SUMMARY="+summary)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("example.yml step %q: %v\n%s", st.Name, err, out)
			}
			steps++
		}
	}
	if b, _ := os.ReadFile(summary); steps < 2 || !strings.Contains(string(b), "receiver-limited") || !strings.Contains(string(b), "network-limited") {
		t.Errorf("example.yml: %d steps ran; the step summary lacks the two runs' verdicts:\n%s", steps, b)
	}
	// Completion, shown as a text block (it writes to /etc).
	if r := runTcplab(t, "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "__start_tcplab") {
		t.Errorf("tcplab completion bash: exit %d, %d bytes", r.code, len(r.stdout))
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestKubernetesRecipes holds docs/kubernetes.md's Indexed Job against the
// Kubernetes API types (strict: an unknown or misspelt field fails) and
// against --shard auto's contract — Indexed, completions equal to
// TCPLAB_SHARDS, each pod's --out its own directory, the capabilities a lab
// needs — and its GitHub Actions workflow against the same contract.
func TestKubernetesRecipes(t *testing.T) {
	blocks := fencedBlocks(t, "../../docs/kubernetes.md", "yaml")
	var job *batchv1.Job
	var workflow map[string]any
	for _, b := range blocks {
		switch {
		case strings.Contains(b, "kind: Job"):
			job = &batchv1.Job{}
			if err := k8syaml.UnmarshalStrict([]byte(b), job); err != nil {
				t.Fatalf("the Job does not decode into batch/v1 Job: %v", err)
			}
		case strings.Contains(b, "jobs:"):
			if err := yaml.Unmarshal([]byte(b), &workflow); err != nil {
				t.Fatalf("the workflow: %v", err)
			}
		}
	}
	if job == nil || workflow == nil {
		t.Fatalf("docs/kubernetes.md lacks the Job or the workflow (%d yaml blocks)", len(blocks))
	}
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("apiVersion %q kind %q", job.APIVersion, job.Kind)
	}
	sp := job.Spec
	if sp.CompletionMode == nil || *sp.CompletionMode != batchv1.IndexedCompletion || sp.Completions == nil {
		t.Fatalf("not an Indexed Job with completions: %+v", sp)
	}
	if sp.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: a failed shard must not rerun into the same directory", sp.Template.Spec.RestartPolicy)
	}
	if len(sp.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(sp.Template.Spec.Containers))
	}
	c := sp.Template.Spec.Containers[0]
	shards := ""
	for _, e := range c.Env {
		if e.Name == "TCPLAB_SHARDS" {
			shards = e.Value
		}
	}
	if shards != fmt.Sprint(*sp.Completions) {
		t.Errorf("TCPLAB_SHARDS %q, completions %d: they must be equal", shards, *sp.Completions)
	}
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--shard auto") || !strings.Contains(args, "--out /results/shard-$(JOB_COMPLETION_INDEX)") {
		t.Errorf("args %q: want --shard auto and an --out per index", args)
	}
	caps := map[corev1.Capability]bool{}
	if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
		for _, k := range sc.Capabilities.Add {
			caps[k] = true
		}
	}
	if !caps["NET_ADMIN"] || !caps["SYS_ADMIN"] {
		t.Errorf("capabilities %v: a lab needs NET_ADMIN and SYS_ADMIN", caps)
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.MountPath] = true
	}
	if !mounted["/results"] || !mounted["/sweep"] || !mounted["/dev/net/tun"] {
		t.Errorf("mounts %v: want /sweep, /results and /dev/net/tun", mounted)
	}
	// The workflow: each matrix job runs its shard from the index and total.
	sweep, _ := workflow["jobs"].(map[string]any)["sweep"].(map[string]any)
	env, _ := sweep["env"].(map[string]any)
	if env["TCPLAB_SHARD_INDEX"] != "${{ strategy.job-index }}" || env["TCPLAB_SHARDS"] != "${{ strategy.job-total }}" {
		t.Errorf("workflow env %v", env)
	}
	var runs []string
	for _, st := range sweep["steps"].([]any) {
		if r, ok := st.(map[string]any)["run"].(string); ok {
			runs = append(runs, r)
		}
	}
	if !strings.Contains(strings.Join(runs, "\n"), "--shard auto") {
		t.Errorf("workflow steps %q: no --shard auto", runs)
	}
}
