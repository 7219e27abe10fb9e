package main

import (
	_ "embed"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/sim/scenario"
)

// demoYAML is the demo scenario: the seed's story of DHCP (through a relay
// agent), DNS, HTTP and a TCP echo across a router and a lossy link.
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
		Long: `demo runs an embedded scenario on two subnets joined by a router: a DHCP
server and a DNS server on infra; web gets its address by DHCP (a
reservation by MAC address, the address the DNS zone names) and serves a
page over HTTP and a TCP echo; client sits behind the router on a link with
loss and delay, gets its address by DHCP through the router's relay agent,
traces the route to web, resolves www.example.test with the DNS server its
lease names, fetches the page and checks an echo exchange. It prints a
timeline (leases bound, DNS answer, HTTP 200, echo verified), writes the
captures and report.json like run does and prints the command to open the
client's capture in Wireshark.`,
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
