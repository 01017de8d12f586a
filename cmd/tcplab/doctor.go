package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/tcplab/tcplab/netem"
)

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Say what this host can do for tcplab, and what each missing piece means",
		Long: `Probe the host: privileges, network namespaces, veth, TUN, tbf, sch_netem,
the kernel version and the tcp_info length the kernel returns. Every probe runs
in a throwaway namespace; nothing is left behind and the root namespace is not
touched.`,
		Example: "  sudo tcplab doctor",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
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
				if r.Name == "netem (sch_netem)" && r.Status == netem.Available {
					backend = "netem (kernel qdiscs on a veth pair)"
				}
			}
			fmt.Fprintf(w, "link backend for auto: %s; a rate alone always uses the kernel's tbf\n", backend)
			return nil
		},
	}
}
