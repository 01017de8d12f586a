package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/lab"
	"github.com/tcplab/tcplab/netem"
	"github.com/tcplab/tcplab/record"
	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
	"github.com/tcplab/tcplab/scenarios"
	"github.com/tcplab/tcplab/tcpinfo"
	"github.com/tcplab/tcplab/watch"
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
2 bad input or setup failure. Documentation: docs/getting-started.md.`,
		Example: `  tcplab doctor                      # what this host can do (and whether sudo is needed)
  tcplab scenarios                   # the shipped scenario library
  sudo tcplab run quickstart         # a 3 s run and its verdict
  tcplab init my.yaml && sudo tcplab run my.yaml
  tcplab report runs/my-…            # the reports again, from a run directory`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newValidateCmd(), newReportCmd(), newScenariosCmd(), newInitCmd(), newSchemaCmd(), newDoctorCmd(), newCleanupCmd(), newVersionCmd(), newExporterCmd(), newWatchCmd())
	return root
}

func newRunCmd() *cobra.Command {
	var out string
	var quiet, pcap bool
	var metrics, output, shard string
	var parallel int
	c := &cobra.Command{
		Use:   "run [FILE | NAME]",
		Short: "Run a scenario (the embedded quickstart when no FILE is given)",
		Long: `Run a scenario and write its run directory: the resolved scenario,
samples.jsonl, events.jsonl, meta.json, and the reports: report.json,
report.txt, summary.md (for $GITHUB_STEP_SUMMARY), junit.xml and report.html.
With no FILE, runs the embedded quickstart scenario; with the NAME of an
embedded scenario (tcplab scenarios), that one. Needs root, or, where
the host allows unprivileged user namespaces, runs rootless: tcplab runs
itself again inside a new user + network namespace where it is root (see
tcplab doctor).

A file with a matrix: is a sweep: every point runs in its own lab, --parallel
at a time (by default from the cores and the points' load; a point the lab
distorted runs again alone once), each in DIR/<point>, and DIR/sweep.json, sweep.txt and sweep.md
hold the table of detection times per setting. --shard i/n runs every n-th
point (for a CI matrix); tcplab report merge combines the shards.`,
		Example: `  sudo tcplab run
  tcplab run          # rootless, where user namespaces are allowed
  sudo tcplab run scenarios/network-limited.yaml --out /tmp/run1
  sudo tcplab run sweep.yaml --out /tmp/sweep --parallel 16 --shard 1/4`,
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
				if err == nil {
					err = lab.Check(s)
				}
			} else {
				var sw *scenario.Sweep
				sw, err = loadSweepOrEmbedded(args[0])
				if err == nil && len(sw.Keys) > 0 {
					if err := maybeRootless(metrics); err != nil {
						return err
					}
					return runSweep(cmd, sw, out, parallel, shard, quiet)
				}
				if err == nil {
					s = sw.Points[0].Scenario
				}
			}
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if shard != "" {
				return withCode(ExitSetup, errors.New("--shard splits a sweep; this scenario has no matrix"))
			}
			if err := maybeRootless(metrics); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts := lab.RunOptions{OutDir: out, Pcap: pcap, Metrics: metrics}
			if !quiet {
				opts.Progress = cmd.ErrOrStderr()
				if isTerminal(cmd.ErrOrStderr()) {
					opts.Live = cmd.ErrOrStderr()
				}
			}
			if output != "text" && output != "json" {
				return withCode(ExitSetup, fmt.Errorf("--output %q: accepted: text, json", output))
			}
			if metrics != "" {
				if warn := metricsExposure(metrics); warn != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "tcplab: warning:", warn)
				}
			}
			res, err := lab.Run(ctx, s, opts)
			if res != nil {
				if perr := printSummary(cmd, output, &res.Summary, res.Dir); perr != nil {
					return withCode(ExitSetup, perr)
				}
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
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress notes on stderr (and no live status line on a terminal)")
	c.Flags().StringVar(&metrics, "metrics", "", "serve per-connection TCP metrics for Prometheus at http://ADDR/metrics during the run, without authentication (127.0.0.1:9464: this host only; :9464 means every interface, and tcplab warns)")
	c.Flags().StringVarP(&output, "output", "o", "text", "what to print at the end: text or json (report.json, for scripts)")
	c.Flags().IntVar(&parallel, "parallel", 0, "sweep points running at once (default: from the cores and the points' load — one unbounded bulk point per core, bulk behind a link rate by its share of a core (2 Gbit/s a core), else 8 per core up to 16); a point the lab distorted runs again alone")
	c.Flags().StringVar(&shard, "shard", "", "run only shard i of n of a sweep's points (i/n, like 2/4), or auto: from a Kubernetes Indexed Job's JOB_COMPLETION_INDEX or TCPLAB_SHARD_INDEX (0-based), of TCPLAB_SHARDS")
	c.Flags().BoolVar(&pcap, "pcap", false, "write link.pcap: headers of every packet that crossed the link (userspace backend)")
	return c
}

func newReportCmd() *cobra.Command {
	var compare string
	var output string
	c := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Render a run's reports again from what it recorded (no root needed)",
		Long: `Render every report of a finished run again from its run directory
(scenario.yaml, meta.json, samples.jsonl, events.jsonl): report.json (byte for
byte as the run wrote it), report.txt, summary.md, junit.xml and report.html.
With --compare, show two runs side by side instead.`,
		Example: `  tcplab report runs/slow-consumer-20261126-101500.000
  tcplab report runs/before --compare runs/after`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if compare != "" {
				a, err := lab.Rerender(args[0])
				if err != nil {
					return withCode(ExitSetup, err)
				}
				b, err := lab.Rerender(compare)
				if err != nil {
					return withCode(ExitSetup, err)
				}
				report.WriteCompare(cmd.OutOrStdout(), &a.Summary, &b.Summary)
				return nil
			}
			res, err := lab.Rerender(args[0])
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if err := printSummary(cmd, output, &res.Summary, res.Dir); err != nil {
				return withCode(ExitSetup, err)
			}
			return recordedExit(&res.Summary)
		},
	}
	c.AddCommand(newReportMergeCmd())
	c.Flags().StringVar(&compare, "compare", "", "another run directory to show side by side")
	c.Flags().StringVarP(&output, "output", "o", "text", "what to print: text or json (report.json, for scripts)")
	return c
}

// runSweep runs a sweep's points and prints the sweep table.
func runSweep(cmd *cobra.Command, sw *scenario.Sweep, out string, parallel int, shard string, quiet bool) error {
	opts := lab.SweepOptions{OutDir: out, Parallel: parallel}
	if opts.OutDir == "" {
		opts.OutDir = filepath.Join("runs", strings.TrimSuffix(filepath.Base(sw.File), filepath.Ext(sw.File))+"-"+time.Now().Format("20060102-150405.000"))
	}
	if shard != "" {
		i, n, err := lab.ParseShard(shard)
		if err != nil {
			return withCode(ExitSetup, err)
		}
		opts.Shard, opts.Shards = i, n
	}
	if !quiet {
		w := cmd.ErrOrStderr()
		opts.Progress = func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := lab.RunSweep(ctx, sw, opts)
	if rep != nil {
		report.WriteSweepText(cmd.OutOrStdout(), rep)
		fmt.Fprintf(cmd.OutOrStdout(), "\nsweep directory: %s\n", opts.OutDir)
	}
	if err != nil {
		return withCode(ExitSetup, err)
	}
	for _, p := range rep.Points {
		if !p.Passed {
			return withCode(ExitExpectFailed, fmt.Errorf("point %s failed its expectations", p.ID))
		}
	}
	return nil
}

// recordedExit is the exit a recorded run or watch earns: 2 when it did
// not complete (no verdict of it can pass), 1 when the lab or its samples
// distorted it (its TRUST line says how) or an expectation failed.
func recordedExit(s *report.Summary) error {
	if end := s.Meta.EndKind(); end != record.EndCompleted {
		return withCode(ExitSetup, fmt.Errorf("the run did not complete (%s): %s", end, s.Meta.StoppedText()))
	}
	if !s.Passed() {
		if t := s.Trust; t != nil && t.Level == report.TrustDistorted {
			return withCode(ExitExpectFailed, errors.New("distorted: its figures cannot be trusted (see its TRUST line)"))
		}
		return withCode(ExitExpectFailed, errors.New("an expectation failed"))
	}
	return nil
}

// printSummary prints a run's summary as text (coloured on a terminal) or
// as report.json.
func printSummary(cmd *cobra.Command, output string, s *report.Summary, dir string) error {
	w := cmd.OutOrStdout()
	switch output {
	case "json":
		return report.WriteJSON(w, s)
	case "text", "":
		render := report.WriteText
		if isTerminal(w) {
			render = report.WriteTextColour
		}
		if err := render(w, s); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "\nrun directory: %s\n", dir)
		return err
	}
	return fmt.Errorf("--output %q: accepted: text, json", output)
}

func newReportMergeCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:     "merge SHARD_DIR...",
		Short:   "Combine the sweep reports of shards (tcplab run --shard i/n) into one",
		Example: `  tcplab report merge shard-1 shard-2 shard-3 shard-4 --out sweep`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := lab.MergeSweeps(args)
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if out != "" {
				if err := lab.WriteMergedSweep(out, rep); err != nil {
					return withCode(ExitSetup, err)
				}
			}
			report.WriteSweepText(cmd.OutOrStdout(), rep)
			if len(rep.Points) != rep.Total {
				return withCode(ExitSetup, fmt.Errorf("the shards hold %d of the sweep's %d points", len(rep.Points), rep.Total))
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "directory for the merged sweep.json, sweep.txt and sweep.md")
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
				sw, err := loadSweepOrEmbedded(f)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if len(sw.Keys) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (a sweep of %d points)\n", f, len(sw.Points))
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
slots of tcplab runs whose tcplab process is gone (killed with -9, crashed);
end the points of a sweep whose sweep process is gone (SIGTERM, so each
removes its own lab and writes its report; SIGKILL after 20 s); and remove
the private directories of rootless runs that were killed (as root: every
user's; as a user: your own). Runs still in progress are left alone, and
nothing else is touched.`,
		Example: "  sudo tcplab cleanup\n  sudo tcplab cleanup --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Points of a sweep that died first: each ends itself cleanly
			// (its lab, its report) on SIGTERM; what one killed leaves is
			// found with the other leftovers below.
			orphans := lab.FindOrphanPoints()
			for _, p := range orphans {
				if dry {
					fmt.Fprintf(cmd.OutOrStdout(), "sweep point %d (%s): its sweep %d is gone; would end it\n", p.PID, p.Dir, p.Parent)
					continue
				}
				how := "ended (SIGTERM)"
				if lab.EndOrphanPoint(p) {
					how = "killed: it did not end within 20 s of SIGTERM"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "sweep point %d (%s): its sweep %d is gone; %s\n", p.PID, p.Dir, p.Parent, how)
			}
			left, err := netem.FindLeftovers()
			if err != nil {
				return withCode(ExitSetup, err)
			}
			private, err := netem.FindRootlessLeftovers()
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if len(left) == 0 && len(private) == 0 && len(orphans) == 0 {
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
			for _, dir := range private {
				verb := "removed"
				if dry {
					verb = "would remove"
				} else if err := netem.RemoveRootlessLeftover(dir); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rootless run: %s its private directory %s\n", verb, dir)
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

func newExporterCmd() *cobra.Command {
	var ns, listen string
	var port uint16
	var interval, window time.Duration
	c := &cobra.Command{
		Use:   "exporter --netns NAME",
		Short: "Serve per-connection TCP metrics of a network namespace for Prometheus",
		Long: `Serve, at http://LISTEN/metrics, the tcp_info of every established TCP
socket in the named network namespace (/run/netns/NAME), read through sock_diag
at each scrape: RTT, cwnd, windows, bytes acked, retransmits and the busy,
rwnd-limited and sndbuf-limited times; and the verdict: each connection's
seconds limited by each class (tcplab_tcp_limited_seconds_total{class=...}),
judged window by window from the end in the namespace as tcplab watch judges
it. Localhost by default. Needs root.`,
		Example: "  sudo tcplab exporter --netns tcplab-1a2b3c4d-rcv --listen 127.0.0.1:9464",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := netns.GetFromName(ns)
			if err != nil {
				return withCode(ExitSetup, fmt.Errorf("open network namespace %q (see ip netns list): %w", ns, err))
			}
			defer h.Close()
			var fd int
			if err := netem.Do(h, func() (err error) {
				fd, err = tcpinfo.OpenDiagSocket()
				return err
			}); err != nil {
				return withCode(ExitSetup, err)
			}
			dc := tcpinfo.NewDiagConn(fd)
			defer dc.Close()
			col := tcpinfo.NewCollector()
			col.Add(ns, dc, port)
			// The verdict: a watch of the same sockets judges each window.
			target := watch.Target{NetNS: ns}
			if port != 0 {
				target.Ports = []uint16{port}
			}
			wt, err := watch.Open(watch.Options{Target: target, Interval: interval, Window: window})
			if err != nil {
				return withCode(ExitSetup, err)
			}
			defer wt.Close()
			srv, addr, err := lab.ServeCollector(listen, col, watch.ClassCollector{W: wt, NetNS: ns})
			if err != nil {
				return withCode(ExitSetup, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "serving http://%s/metrics for namespace %s\n", addr, ns)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, werr := wt.Run(ctx)
			return errors.Join(werr, srv.Close())
		},
	}
	c.Flags().StringVar(&ns, "netns", "", "network namespace name (required)")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:9464", "address to serve /metrics on")
	c.Flags().Uint16Var(&port, "port", 0, "only sockets using this port (0: all)")
	c.Flags().DurationVar(&interval, "interval", 100*time.Millisecond, "sampling interval of the verdict (tcplab_tcp_limited_seconds_total)")
	c.Flags().DurationVar(&window, "window", time.Second, "classification window of the verdict")
	c.MarkFlagRequired("netns")
	return c
}

// isTerminal reports whether w is a terminal (colour and the live progress
// line go only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// maybeRootless re-runs this command inside a new user + network namespace
// when tcplab is not root, and exits with its code; as root (or already
// inside) it returns nil and the run goes on here.
func maybeRootless(metrics string) error {
	if os.Geteuid() == 0 {
		return nil
	}
	if metrics != "" {
		return withCode(ExitSetup, errors.New("--metrics needs root: a rootless run serves from inside its own network namespace, which the host cannot reach"))
	}
	code, err := netem.RunRootless(os.Args[1:])
	if err != nil {
		return withCode(ExitSetup, fmt.Errorf("tcplab run needs root, and a rootless run is not possible here: %w", err))
	}
	os.Exit(code)
	return nil
}

// loadSweepOrEmbedded reads a scenario file, or, when no such file exists
// and arg names an embedded scenario (tcplab scenarios), that one.
func loadSweepOrEmbedded(arg string) (*scenario.Sweep, error) {
	if _, err := os.Stat(arg); os.IsNotExist(err) && !strings.ContainsAny(arg, "/.") {
		if b, rerr := scenarios.Read(arg); rerr == nil {
			sw, err := scenario.ParseSweep(arg+".yaml (embedded)", b)
			if err != nil {
				return nil, err
			}
			return sw, lab.CheckSweep(sw)
		}
	}
	sw, err := scenario.LoadSweep(arg)
	if err != nil {
		return nil, err
	}
	// The expectations and the programs a run would start must be right
	// before anything starts.
	if err := lab.CheckSweep(sw); err != nil {
		return nil, err
	}
	return sw, nil
}

// metricsExposure says who else can read /metrics served on addr ("" for
// loopback only): the endpoint has no authentication.
func metricsExposure(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "" // the run reports the bad address
	}
	if host == "localhost" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return ""
	}
	where := "every interface of this host"
	if host != "" && host != "0.0.0.0" && host != "::" {
		where = host
	}
	return fmt.Sprintf("--metrics %s serves /metrics without authentication on %s (port %s): anyone who can reach it reads the lab's connections; use 127.0.0.1:%s to keep it on this host", addr, where, port, port)
}
