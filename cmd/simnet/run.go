package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

// exitRun ends the process with a status; tests replace it.
var exitRun = os.Exit

// Exit statuses of run and demo.
const (
	exitOK       = 0
	exitFailed   = 1 // an expectation failed
	exitScenario = 2 // usage, scenario or run error
)

// outRoot is where runs go without --out.
const outRoot = "simnet-out"

// runFlags are the flags shared by run and demo.
type runFlags struct {
	seed   uint64
	out    string
	format string
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().Uint64Var(&f.seed, "seed", 0, "seed of the run (default: the file's seed, or 0)")
	cmd.Flags().StringVar(&f.out, "out", "", "output directory (default: a fresh ./"+outRoot+"/<name>-<seed>-<n>)")
	cmd.Flags().StringVar(&f.format, "pcap-format", "pcapng", "capture format: pcapng or pcap")
}

// newRunCmd builds `simnet run FILE`.
func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a scenario file in the simulator",
		Long: `run reads a scenario file (see docs/scenarios.md), runs it in the simulator
on virtual time, writes one capture per host and report.json into the output
directory and prints a summary.

Exit status: 0 when every expectation passed, 1 when one failed (each failed
expectation is named on stderr), 2 for a usage or scenario error (one line per
problem, FILE:LINE: field "...": message).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := scenario.Load(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				exitRun(exitScenario)
				return nil
			}
			if code := runScenario(cmd.OutOrStdout(), cmd.ErrOrStderr(), s, f, cmd.Flags().Changed("seed"), false); code != exitOK {
				exitRun(code)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// runScenario runs s with the flags, writes the report and the summary,
// and returns the exit status.
func runScenario(stdout, stderr io.Writer, s *scenario.Scenario, f runFlags, seedSet, demo bool) int {
	format, err := pcap.ParseFormat(f.format)
	if err != nil {
		fmt.Fprintf(stderr, "simnet: --pcap-format: %v\n", err)
		return exitScenario
	}
	seed := s.Seed
	if seedSet {
		seed = f.seed
	}
	dir := f.out
	if dir == "" {
		dir, err = freshDir(outRoot, fmt.Sprintf("%s-%d", s.Name, seed))
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(stderr, "simnet: output directory: %v\n", err)
		return exitScenario
	}
	rep, err := scenario.Run(s, scenario.Options{Seed: seed, SeedSet: true, OutDir: dir, Format: format})
	if err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	if err := scenario.WriteReport(dir, rep); err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	if err := rep.WriteSummary(stdout); err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	fmt.Fprintf(stdout, "output: %s\n", dir)
	for _, c := range append(rep.Captures, rep.SwitchCaptures...) {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, c))
	}
	fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, scenario.ReportFile))
	if demo && len(rep.Captures) > 0 {
		// The demo's last host is the client, whose capture tells the
		// story from DHCP to the echo exchange.
		last := filepath.Join(dir, rep.Captures[len(rep.Captures)-1])
		fmt.Fprintf(stdout, "open a capture with:\n  wireshark %s\n  tshark -r %s -Y 'dhcp || dns || http || tcp.port == 7'\n", last, last)
	}
	if failed := rep.Failed(); len(failed) > 0 {
		for _, e := range failed {
			fmt.Fprintf(stderr, "simnet: expectation failed: %s\n", e)
		}
		return exitFailed
	}
	return exitOK
}

// freshDir creates and returns root/base-n for the first n from 1 that does
// not exist yet. It does not look at the clock, so reruns are predictable.
func freshDir(root, base string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", root, err)
	}
	for n := 1; n <= 100000; n++ {
		dir := filepath.Join(root, base+"-"+strconv.Itoa(n))
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create %s: %w", dir, err)
		}
	}
	return "", fmt.Errorf("no free directory %s-N under %s", base, root)
}
