package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenarios"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tcplab",
		Short: "Load and fault-injection harness for TCP",
		Long: `tcplab runs a scenario file: a sender and a receiver in their own network
namespaces, an impaired link between them, tcp_info sampled on both ends, and a
report saying whether the transfer was sender-, receiver- or network-limited,
with the evidence.

Exit codes: 0 every expectation held, 1 an expectation failed,
2 bad input or setup failure.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newValidateCmd(), newDoctorCmd(), newCleanupCmd(), newVersionCmd())
	return root
}

func newRunCmd() *cobra.Command {
	var out string
	var quiet, pcap bool
	c := &cobra.Command{
		Use:   "run [FILE]",
		Short: "Run a scenario (the embedded quickstart when no FILE is given)",
		Long: `Run a scenario and write its run directory: the resolved scenario,
samples.jsonl, events.jsonl, report.json and report.txt. Needs root.
With no FILE, runs the embedded quickstart scenario.`,
		Example: `  sudo tcplab run
  sudo tcplab run scenarios/network-limited.yaml --out /tmp/run1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s *scenario.Scenario
			var err error
			if len(args) == 0 {
				b, rerr := scenarios.Read("quickstart")
				if rerr != nil {
					return withCode(ExitSetup, rerr)
				}
				s, err = scenario.Parse("quickstart.yaml (embedded)", b)
			} else {
				s, err = scenario.Load(args[0])
			}
			if err != nil {
				return withCode(ExitSetup, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts := scenario.RunOptions{OutDir: out, Pcap: pcap}
			if !quiet {
				opts.Progress = cmd.ErrOrStderr()
			}
			res, err := scenario.Run(ctx, s, opts)
			if res != nil {
				report.WriteText(cmd.OutOrStdout(), &res.Summary)
				fmt.Fprintf(cmd.OutOrStdout(), "\nrun directory: %s\n", res.Dir)
			}
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if !res.Summary.Passed() {
				return withCode(ExitExpectFailed, errors.New("an expectation failed"))
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "run directory (default runs/<name>-<timestamp>)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress notes on stderr")
	c.Flags().BoolVar(&pcap, "pcap", false, "write link.pcap: headers of every packet that crossed the link (userspace backend)")
	return c
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "validate FILE...",
		Short:   "Check scenario files without running them (no root needed)",
		Example: "  tcplab validate scenarios/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, f := range args {
				if _, err := scenario.Load(f); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", f)
			}
			return withCode(ExitSetup, errors.Join(errs...))
		},
	}
}

func newCleanupCmd() *cobra.Command {
	var dry bool
	c := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what crashed runs left behind (namespaces, links, processes)",
		Long: `Remove the namespaces (with their links and qdiscs), processes and address
slots of tcplab runs whose tcplab process is gone (killed with -9, crashed).
Runs still in progress are left alone, and nothing else is touched.`,
		Example: "  sudo tcplab cleanup\n  sudo tcplab cleanup --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			left, err := netem.FindLeftovers()
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if len(left) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to clean up")
				return nil
			}
			var errs []error
			for _, l := range left {
				verb := "removed"
				if dry {
					verb = "would remove"
				} else if err := netem.RemoveLeftover(l); err != nil {
					errs = append(errs, fmt.Errorf("run %s: %w", l.RunID, err))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "run %s: %s namespaces %v, processes %v, address slot %d\n", l.RunID, verb, l.Namespaces, l.Processes, l.Slot)
			}
			return withCode(ExitSetup, errors.Join(errs...))
		},
	}
	c.Flags().BoolVar(&dry, "dry-run", false, "only list what would be removed")
	return c
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print tcplab's version",
		Example: "  tcplab version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "tcplab %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

var _ = context.Background
