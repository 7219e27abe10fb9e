package main

import (
	_ "embed"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/sim/scenario"
)

// demoYAML is the demo scenario: three hosts on a switch, one lossy link,
// pings and a UDP stream.
//
//go:embed demo.yaml
var demoYAML []byte

// demoFile names the embedded scenario in messages.
const demoFile = "demo.yaml (embedded)"

func init() { rootCmd.AddCommand(newDemoCmd()) }

// newDemoCmd builds `simnet demo`.
func newDemoCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the built-in demo scenario and show where its captures are",
		Long: `demo runs an embedded scenario: three hosts on a switch, a lossy link that
goes down for a moment, pings and a UDP stream. It writes the captures and
report.json like run does and prints the command to open them in Wireshark.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := scenario.Parse(demoFile, demoYAML)
			if err != nil {
				return fmt.Errorf("demo scenario: %w", err)
			}
			if code := runScenario(cmd.OutOrStdout(), cmd.ErrOrStderr(), s, f, cmd.Flags().Changed("seed"), true); code != exitOK {
				exitRun(code)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
