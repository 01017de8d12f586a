package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tcplab/tcplab/watch"
)

func newWatchCmd() *cobra.Command {
	var opts watch.Options
	var ports []uint
	var addrs []string
	var output string
	var quiet bool
	c := &cobra.Command{
		Use:   "watch [--netns NAME|PATH] [--pid PID] [--port N] [--addr PREFIX] [--for 60s] [--out DIR]",
		Short: "Watch live connections on this host, read-only, and judge what limits each",
		Long: `Sample the established TCP connections of a live host through sock_diag —
read-only: tcplab writes to no socket, link or namespace it watches — and judge
each, window by window, from the end this host has: the sending end's kernel
chronos and queue tell sender-, receiver- and network-limited apart; a
receiving end tells receiver-limited from not (then the sender or the path held
it, which that end cannot tell: watch the sending end for that).

Connections are picked by namespace (--netns: a name under /run/netns, or a
path such as a container's /proc/PID/ns/net; default: the --pid's namespace,
else tcplab's own), by the process holding them (--pid), by port and by address
(local or remote; both repeatable). On a terminal a table is redrawn in place
each window; otherwise a line per connection and window. --for or SIGINT/SIGTERM
ends the watch; with --out the run directory it records renders with tcplab
report like any run's, and tcplab init --from turns it into a scenario. Needs
root (or CAP_NET_ADMIN and CAP_SYS_ADMIN to enter another namespace).`,
		Example: `  sudo tcplab watch --netns tcplab-1a2b3c4d-snd --for 30s --out runs/watched
  sudo tcplab watch --pid "$(pidof feed-client)" --port 443
  sudo tcplab watch --netns /proc/4242/ns/net --addr 10.0.0.0/8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range ports {
				if p == 0 || p > 65535 {
					return withCode(ExitSetup, fmt.Errorf("--port %d: a port from 1 to 65535", p))
				}
				opts.Ports = append(opts.Ports, uint16(p))
			}
			for _, a := range addrs {
				p, err := parsePrefix(a)
				if err != nil {
					return withCode(ExitSetup, err)
				}
				opts.Prefixes = append(opts.Prefixes, p)
			}
			if output != "text" && output != "json" {
				return withCode(ExitSetup, fmt.Errorf("--output %q: accepted: text, json", output))
			}
			if !quiet {
				opts.Live = cmd.ErrOrStderr()
				opts.Terminal = isTerminal(opts.Live)
			}
			w, err := watch.Open(opts)
			if err != nil {
				return withCode(ExitSetup, err)
			}
			defer w.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "watching %s (every %v, windows of %v); SIGINT ends it\n", opts.Target, opts.Interval, opts.Window)
			}
			res, err := w.Run(ctx)
			if res != nil && !quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s after %.1f s: %d connection(s) followed\n", res.Stopped, res.Seconds, res.Connections)
			}
			if err != nil {
				return withCode(ExitSetup, err)
			}
			if res.Summary == nil {
				return nil // nothing recorded (no --out)
			}
			if err := printSummary(cmd, output, res.Summary, opts.Out); err != nil {
				return withCode(ExitSetup, err)
			}
			// Samples too thin to judge (trust distorted) must not pass.
			return recordedExit(res.Summary)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.NetNS, "netns", "", "network namespace: a name under /run/netns, or a path (a container's /proc/PID/ns/net); default: the --pid's, else tcplab's own")
	f.IntVar(&opts.PID, "pid", 0, "only the connections this process holds open (and, without --netns, its namespace)")
	f.UintSliceVar(&ports, "port", nil, "only connections with this local or remote port (repeatable)")
	f.StringSliceVar(&addrs, "addr", nil, "only connections with a local or remote address in this prefix or equal to this address (repeatable)")
	f.DurationVar(&opts.Interval, "interval", 100*time.Millisecond, "sampling interval")
	f.DurationVar(&opts.Window, "window", time.Second, "classification window (at least two intervals)")
	f.DurationVar(&opts.For, "for", 0, "end the watch after this long (default: at SIGINT or SIGTERM)")
	f.StringVar(&opts.Out, "out", "", "record a run directory here (new or empty): tcplab report renders it")
	f.StringVarP(&output, "output", "o", "text", "with --out, what to print at the end: text or json (report.json)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no live table or notes on stderr")
	return c
}

// parsePrefix reads an address or a prefix (198.18.0.1, 198.18.0.0/15,
// 2001:db8::/32).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("--addr %q: an address or a prefix (198.18.0.1, 198.18.0.0/15, 2001:db8::/32): %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("--addr %q: an address or a prefix (198.18.0.1, 198.18.0.0/15, 2001:db8::/32): %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
