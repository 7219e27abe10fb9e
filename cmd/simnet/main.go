// Command simnet runs simulated networks from scenario files, runs the
// built-in demo, and analyses captures.
//
//	simnet run FILE [--seed N] [--out DIR] [--pcap-format pcapng|pcap]
//	simnet demo [--seed N] [--out DIR] [--pcap-format pcapng|pcap]
//	simnet replay FILE [--json]
//	simnet script FILE.pkt... [--json] [--out DIR] [--tolerance D]
//
// Sub-commands register themselves on rootCmd from their own files.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/internal/cliflag"
)

// rootCmd is the simnet command; sub-commands add themselves in init.
var rootCmd = &cobra.Command{
	Use:           "simnet",
	Short:         "A user-space TCP/IP stack and network testbed",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func init() {
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cliflag.CleanError(err) })
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		// Usage errors: unknown flags, missing arguments.
		fmt.Fprintf(os.Stderr, "simnet: %v\n", err)
		os.Exit(2)
	}
}
