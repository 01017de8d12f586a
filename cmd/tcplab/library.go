package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tcplab/tcplab/lab"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenarios"
)

func newScenariosCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios [NAME]",
		Short: "List the scenarios embedded in tcplab, or print one",
		Long: `List the shipped scenario library (embedded in the binary): name, how long
it runs, and what it shows. With NAME, print that scenario's file — to read
its story and expectations, or to start your own from it. tcplab run NAME
runs an embedded scenario directly.`,
		Example: `  tcplab scenarios
  tcplab scenarios vendor-maintenance-replay
  tcplab scenarios nat-idle-timeout > my-nat.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				b, err := scenarios.Read(args[0])
				if err != nil {
					return withCode(ExitSetup, fmt.Errorf("no embedded scenario %q; embedded: %s", args[0], strings.Join(scenarios.Names(), ", ")))
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tRUNS\tWHAT IT SHOWS")
			for _, name := range scenarios.Names() {
				b, err := scenarios.Read(name)
				if err != nil {
					return withCode(ExitSetup, err)
				}
				sw, err := scenario.ParseSweep(name+".yaml", b)
				if err != nil {
					return withCode(ExitSetup, fmt.Errorf("embedded %s: %w", name, err))
				}
				s := sw.Points[0].Scenario
				runs := time.Duration(s.Duration).String()
				if len(sw.Keys) > 0 {
					runs += fmt.Sprintf(" × %d points", len(sw.Points))
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", name, runs, s.Description)
			}
			return w.Flush()
		},
	}
}

// starter is the file tcplab init writes: a scenario that runs as it is,
// with the main knobs shown and commented.
const starter = `# yaml-language-server: $schema=` + scenario.SchemaURL + `
# A tcplab scenario. Run it with: sudo tcplab run FILE (no sudo needed where
# the host allows user namespaces: see tcplab doctor). Every field, unit and
# default: docs/scenario.md; the shipped library: tcplab scenarios.
name: my-scenario
description: A server sends as fast as it can to a client over a 40 ms path with a 20 Mbit/s bottleneck.
duration: 5s              # how long traffic flows
sample_interval: 10ms     # how often tcp_info is read on both ends

link:                     # the path between the two namespaces
  both:                   # both directions; down (sender → receiver) and up (the ACKs) override it
    delay: 20ms           # one way: the RTT is 40 ms
  down:
    rate: 20mbit          # the bottleneck
    # loss: 0.5%
  # nat: { idle_timeout: 30s, expired: drop }  # a NAT that forgets idle connections

sender:
  listen: true            # the sender is the server; the receiver connects to it
  rate: max               # bulk; or 5mbit, or a schedule: [ { rate: 1000/s, for: 10s }, { pause: 5s }, { replay: max } ]
  message: { size: 1KiB }
  # socket: { keepalive: { idle: 30s, interval: 5s, count: 3 }, user_timeout: 45s }

receiver:
  read: { rate: max }     # a slow reader: { rate: 1MB/s }; pauses: stalls: [ { at: 2s, for: 1s } ]
  # clients: 10
  # reconnect: { initial: 1s, max: 30s, jitter: 20% }

# timeline:               # change the path during the run, connections stay up
#   - { at: 2s, for: 1s, partition: both }
#   - { at: 3s, link: { down: { loss: 5% } } }

expect:                   # checked at the end; a failing one makes tcplab exit 1
  - verdict == network-limited
  - messages.lost == 0
`

// nameLine is a scenario's top-level name line.
var nameLine = regexp.MustCompile(`(?m)^(name: *)\S+`)

func newInitCmd() *cobra.Command {
	var force bool
	var from string
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented starter scenario (scenario.yaml by default)",
		Long: `Write a starter scenario file that runs as it is and shows the main knobs,
commented: the link, the sender, the receiver, the timeline and the checks.
With --from NAME, start from an embedded scenario instead. With --from RUN_DIR
(a run directory), write a scenario whose link and peers reproduce what that
run measured — the delay from min_rtt, loss from retransmissions, the
bottleneck rate, the reader's or the sender's rate, the message size — each
value commented with its source, and the verdict as its expectation. An
existing file is not overwritten unless --force.`,
		Example: `  tcplab init
  tcplab init lab/vendor.yaml --from vendor-maintenance-replay
  tcplab init again.yaml --from runs/slow-consumer-20261126-101500.000`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := "scenario.yaml"
			if len(args) == 1 {
				file = args[0]
			}
			content := []byte(starter)
			base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
			fi, statErr := os.Stat(from)
			runDir := from != "" && statErr == nil && fi.IsDir()
			switch {
			case from == "" || runDir || slices.Contains(scenarios.Names(), from):
			case statErr == nil:
				// A file: perhaps a run's report.json, or a scenario.
				return withCode(ExitSetup, fmt.Errorf("--from %q is a file; give a run directory (a tcplab run's or watch's --out), or an embedded scenario's name (tcplab scenarios)", from))
			case strings.ContainsRune(from, os.PathSeparator) || !errors.Is(statErr, os.ErrNotExist):
				// Written as a path: it was meant as a run directory.
				return withCode(ExitSetup, fmt.Errorf("--from %q: no such run directory: %w", from, statErr))
			}
			if runDir {
				// A run directory: a scenario that reproduces what it measured.
				name := base
				if !scenario.ValidName(name) {
					name = "inferred"
				}
				b, err := lab.InferScenario(from, name)
				if err != nil {
					return withCode(ExitSetup, err)
				}
				content = b
			} else if from != "" {
				b, err := scenarios.Read(from)
				if err != nil {
					return withCode(ExitSetup, fmt.Errorf("--from %q: no such run directory here, nor embedded scenario; embedded: %s", from, strings.Join(scenarios.Names(), ", ")))
				}
				content = []byte(strings.Replace(string(b), "$schema=../docs/scenario.schema.json", "$schema="+scenario.SchemaURL, 1))
			}
			// The scenario is named after its file (my-first.yaml: my-first).
			if scenario.ValidName(base) {
				content = nameLine.ReplaceAll(content, []byte("${1}"+base))
			}
			// Never write through a link (tcplab may run as root).
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC | syscall.O_NOFOLLOW
			}
			f, err := os.OpenFile(file, flags, 0o644)
			if errors.Is(err, os.ErrExist) {
				return withCode(ExitSetup, fmt.Errorf("%s exists; choose another name or use --force", file))
			}
			if errors.Is(err, syscall.ELOOP) {
				return withCode(ExitSetup, fmt.Errorf("%s is a symbolic link; tcplab init does not write through links", file))
			}
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if _, err := f.Write(content); err != nil {
				f.Close()
				return withCode(ExitSetup, err)
			}
			if err := f.Close(); err != nil {
				return withCode(ExitSetup, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s; run it with: sudo tcplab run %s\n", file, file)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	c.Flags().StringVar(&from, "from", "", "start from this embedded scenario (see tcplab scenarios), or infer one from this run directory")
	return c
}

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the scenario format (for editors)",
		Long: `Print the JSON Schema of the scenario format, generated from the same types
tcplab reads scenario files into. Editors with yaml-language-server (VS Code's
YAML extension, Neovim, Helix, …) complete and check a scenario file that
starts with a modeline naming it:

  # yaml-language-server: $schema=scenario.schema.json`,
		Example: "  tcplab schema > scenario.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cmd.OutOrStdout().Write(scenario.Schema())
			return err
		},
	}
}
