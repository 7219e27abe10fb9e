package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/replay/analyze"
	"github.com/simnet-go/simnet/replay/input"
)

func init() { rootCmd.AddCommand(newReplayCmd()) }

// exitReplay ends the process with a status; tests replace it.
var exitReplay = os.Exit

// newReplayCmd builds `simnet replay FILE [--json]`.
func newReplayCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Decode a pcap/pcapng capture with simnet's parsers and summarise it",
		Long: `replay reads a pcap or pcapng file (gzip-compressed or not), decodes every
frame with simnet's own protocol parsers and prints per-protocol frame counts,
TCP connections, DNS query/response pairs, DHCP exchanges and the frames the
parsers rejected.

A file that is not a capture, or is cut off, gives one line on stderr and exit
status 2; for a cut-off file what was read before the break is still reported.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := runReplay(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], asJSON)
			if code != 0 {
				exitReplay(code)
			}
			return nil
		},
		SilenceUsage: true,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the analysis as one JSON object")
	return cmd
}

// runReplay analyses path, writes the report to stdout and problems to
// stderr, and returns the exit status: 0, or 2 for a file that is not a
// capture or is truncated.
func runReplay(stdout, stderr io.Writer, path string, asJSON bool) int {
	res, err := analyze.RunFile(path)
	var te *input.TruncatedError
	if err != nil && !errors.As(err, &te) {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(res); werr != nil {
			fmt.Fprintf(stderr, "simnet replay: write report: %v\n", werr)
			return 1
		}
	} else if werr := writeTable(stdout, res); werr != nil {
		fmt.Fprintf(stderr, "simnet replay: write report: %v\n", werr)
		return 1
	}
	if te != nil {
		fmt.Fprintf(stderr, "simnet replay: %s: %s\n", oneLine(path), oneLine(te.Error()))
		return 2
	}
	return 0
}

// oneLine escapes control characters (a hostile file name may hold a
// newline) so that a message stays on one line.
func oneLine(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// writeTable prints the analysis as readable tables.
func writeTable(w io.Writer, res *analyze.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tFRAMES")
	for _, n := range analyze.CountNames {
		fmt.Fprintf(tw, "%s\t%d\n", n, res.Counts.Get(n))
	}
	if len(res.Flows.TCP) > 0 {
		fmt.Fprintln(tw, "\nTCP CONNECTION\tSTATE\tSEGMENTS\tRETRANS\tBYTES C->S\tBYTES S->C")
		for _, c := range res.Flows.TCP {
			fmt.Fprintf(tw, "%s -> %s\t%s\t%d\t%d\t%d\t%d\n", c.Client, c.Server, c.State,
				c.Segments, c.Retransmissions, c.BytesClientToServer, c.BytesServerToClient)
		}
	}
	if len(res.Flows.DNS) > 0 {
		fmt.Fprintln(tw, "\nDNS CLIENT -> SERVER\tID\tQUESTION\tQUERY\tRESPONSE\tRCODE\tANSWERS\tRTT")
		for _, d := range res.Flows.DNS {
			rtt := "-"
			if d.QueryFrame >= 0 && d.ResponseFrame >= 0 {
				rtt = (time.Duration(d.RTTMicros) * time.Microsecond).String()
			}
			fmt.Fprintf(tw, "%s -> %s (%s)\t%d\t%s %s\t%s\t%s\t%s\t%d\t%s\n", d.Client, d.Server, d.Transport,
				d.ID, d.Name, d.Type, frameRef(d.QueryFrame), frameRef(d.ResponseFrame), d.Rcode, d.Answers, rtt)
		}
	}
	if len(res.Flows.DHCP) > 0 {
		fmt.Fprintln(tw, "\nDHCP XID\tCLIENT\tMESSAGES\tYIADDR")
		for _, d := range res.Flows.DHCP {
			fmt.Fprintf(tw, "%#08x\t%s\t%v\t%s\n", d.XID, d.Client, d.Messages, d.Yiaddr)
		}
	}
	if res.RejectedTotal > 0 {
		fmt.Fprintf(tw, "\nREJECTED (%d)\tREASON\n", res.RejectedTotal)
		for _, r := range res.Rejected {
			fmt.Fprintf(tw, "frame %d\t%s\n", r.Index+1, r.Reason)
		}
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(tw, "\nwarning: %s\n", warn)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("flush table: %w", err)
	}
	return nil
}

// frameRef renders a 0-based frame index as the 1-based number Wireshark
// shows, or "-" when absent.
func frameRef(i int) string {
	if i < 0 {
		return "-"
	}
	return fmt.Sprint(i + 1)
}
