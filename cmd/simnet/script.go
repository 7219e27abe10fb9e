package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/internal/pktdrill/runner"
	"github.com/simnet-go/simnet/proto/tcp"
)

func init() { rootCmd.AddCommand(newScriptCmd()) }

// exitScript ends the process with a status; tests replace it.
var exitScript = os.Exit

// scriptOpts are the flags of `simnet script`.
type scriptOpts struct {
	asJSON    bool
	out       string
	tolerance time.Duration
	pdTol     bool
}

// newScriptCmd builds `simnet script FILE.pkt... [--json] [--out DIR]
// [--tolerance D] [--packetdrill-tolerance]`.
func newScriptCmd() *cobra.Command {
	var o scriptOpts
	cmd := &cobra.Command{
		Use:   "script FILE.pkt...",
		Short: "Run packetdrill scripts against simnet's TCP on the virtual clock",
		Long: `script plays packetdrill scripts (google/packetdrill's language) against one host
of simnet's stack (192.168.0.1); the script plays the remote peer 192.0.2.1.
Timing is exact on the virtual clock unless --tolerance widens it, or
--packetdrill-tolerance applies packetdrill's own (the script's
--tolerance_usecs, default 4 ms, or 12.5% of the time since the previous
event), as scripts written for a real kernel expect.

Each file ends as pass, fail (the first mismatch: script line, expected and
actual packet or call, connection state) or unsupported (the construct and its
line; parse errors too). Exit status: 0 when all pass, 1 when one failed, 2
when one did not parse or used an unsupported construct (and none failed).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			exitScript(runScripts(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, o))
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print one JSON object per file: {file, result, line, reason}")
	cmd.Flags().StringVar(&o.out, "out", "", "write a pcapng capture of every run into `DIR`")
	cmd.Flags().DurationVar(&o.tolerance, "tolerance", 0, "accept packets and calls up to `D` early or late (default exact)")
	cmd.Flags().BoolVar(&o.pdTol, "packetdrill-tolerance", false, "accept packetdrill's timing slack: the script's --tolerance_usecs (default 4000) or --tolerance_percent (default 12.5) of the time since the previous event")
	return cmd
}

// scriptTCP is the TCP configuration scripts run with, and scriptProfiles
// those a script may pick with --profile=NAME. "defaults" is tcp.Config's
// zero value with its defaults filled in, what tests/scripts pin.
var (
	scriptTCP      = tcp.LinuxProfile()
	scriptProfiles = map[string]tcp.Config{"defaults": {}, "linux": tcp.LinuxProfile(), "rfc": tcp.RFCProfile()}
)

// runScripts runs every file and returns the exit status.
func runScripts(stdout, stderr io.Writer, files []string, o scriptOpts) int {
	if o.tolerance < 0 {
		fmt.Fprintf(stderr, "simnet script: --tolerance %v is negative\n", o.tolerance)
		return 2
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			fmt.Fprintf(stderr, "simnet script: %v\n", err)
			return 2
		}
	}
	status := 0
	enc := json.NewEncoder(stdout)
	for _, f := range files {
		var capture bytes.Buffer
		opt := runner.Options{Tolerance: o.tolerance, PacketdrillTolerance: o.pdTol, TCP: scriptTCP, Profiles: scriptProfiles}
		if o.out != "" {
			opt.Capture = &capture
		}
		res := runner.RunFile(f, opt)
		if o.out != "" && capture.Len() > 0 {
			name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)) + ".pcapng"
			if err := os.WriteFile(filepath.Join(o.out, name), capture.Bytes(), 0o644); err != nil {
				fmt.Fprintf(stderr, "simnet script: %v\n", err)
				return 2
			}
		}
		switch res.Result {
		case runner.Fail:
			status = 1
		case runner.Unsupported:
			if status == 0 {
				status = 2
			}
		}
		if o.asJSON {
			if err := enc.Encode(res); err != nil {
				fmt.Fprintf(stderr, "simnet script: %v\n", err)
				return 2
			}
			continue
		}
		if res.Result == runner.Pass {
			fmt.Fprintf(stdout, "pass %s\n", f)
		} else {
			fmt.Fprintf(stdout, "%s %s:%d: %s\n", res.Result, f, res.Line, res.Reason)
		}
	}
	return status
}
