package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tcplab/tcplab/netem"
)

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Say what this host can do for tcplab, and what each missing piece means",
		Long: `Probe the host: privileges, network namespaces, veth, TUN, tbf, sch_netem,
the kernel version and the tcp_info length the kernel returns, and whether
unprivileged users may run tcplab without sudo (user namespaces). Every probe
runs in a throwaway namespace; nothing is left behind and the root namespace
is not touched. Run without root, it probes from inside the user namespace a
rootless tcplab run would use.`,
		Example: "  sudo tcplab doctor\n  tcplab doctor        # as a user: can this user run tcplab without sudo?",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch {
			case netem.Rootless():
				fmt.Fprintf(w, "ok   %-22s running inside a user + network namespace of its own (tcplab run does the same)\n", "rootless")
			case os.Geteuid() != 0:
				if err := netem.RootlessCheck(); err != nil {
					fmt.Fprintf(w, "MISS %-22s %v\n", "rootless", err)
					fmt.Fprintf(w, "     %-22s → tcplab run needs root on this host: run it with sudo\n", "")
					break
				}
				fmt.Fprintf(w, "ok   %-22s unprivileged user namespaces are allowed: tcplab run works without sudo; probing from inside one:\n", "rootless")
				code, err := netem.RunRootless(os.Args[1:])
				if err != nil {
					return withCode(ExitSetup, err)
				}
				os.Exit(code)
			default:
				if err := netem.RootlessCheck(); err != nil {
					fmt.Fprintf(w, "MISS %-22s %v\n", "rootless", err)
					fmt.Fprintf(w, "     %-22s → users other than root need sudo for tcplab run\n", "")
				} else {
					fmt.Fprintf(w, "ok   %-22s unprivileged user namespaces are allowed: other users can run tcplab without sudo\n", "rootless")
				}
			}
			results := netem.Probe()
			for _, r := range results {
				mark := "ok  "
				switch r.Status {
				case netem.Missing:
					mark = "MISS"
				case netem.Unknown:
					mark = "??  "
				}
				fmt.Fprintf(w, "%s %-22s %s\n", mark, r.Name, r.Detail)
				if r.Status != netem.Available && r.Meaning != "" {
					fmt.Fprintf(w, "     %-22s → %s\n", "", r.Meaning)
				}
			}
			// What link.backend: auto will use for delay, loss and the rest.
			backend := "userspace (tcplab's emulator between TUN devices): this kernel cannot add a netem qdisc"
			for _, r := range results {
				if r.Feature == netem.FeatureNetem && r.Status == netem.Available {
					backend = "netem (kernel qdiscs on a veth pair)"
				}
			}
			fmt.Fprintf(w, "link backend for auto: %s; a rate alone always uses the kernel's tbf\n", backend)
			return nil
		},
	}
}
