package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/emulate"
	"github.com/simnet-go/simnet/internal/cliflag"
	"github.com/simnet-go/simnet/internal/privdrop"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/report/htmlreport"
	"github.com/simnet-go/simnet/sim/scenario"
	"github.com/simnet-go/simnet/sweep"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

// exitRun ends the process with a status; tests replace it.
var exitRun = os.Exit

// Exit statuses of run and demo.
const (
	exitOK       = 0
	exitFailed   = 1 // an expectation failed
	exitScenario = 2 // usage, scenario or run error
	// exitInterrupted is the status of a run stopped by SIGINT or SIGTERM
	// (128 + SIGINT, as shells report it).
	exitInterrupted = 130
)

// htmlSeriesMax bounds the series rows kept per connection and queue when
// they are taken only for report.html's plots (no --series).
const htmlSeriesMax = 1000

// outRoot is where runs go without --out.
const outRoot = "simnet-out"

// runFlags are the flags shared by run and demo.
type runFlags struct {
	seed    uint64
	out     string
	format  string
	report  string
	force   bool
	capture string
	quiet   bool
	// taps and tapCreate are run's --tap and --tap-create (emulation).
	taps      []string
	tapCreate bool
	// user is --user: the identity an emulated run drops to.
	user string
	// series writes DIR/series/*.csv; seriesMax bounds their rows per
	// connection and per queue.
	series    bool
	seriesMax int
}

func (f *runFlags) register(cmd *cobra.Command) {
	cliflag.SeedVar(cmd.Flags(), &f.seed, "seed", 0, "seed of the run (default: the file's seed, or 0)")
	cmd.Flags().StringVar(&f.out, "out", "", "output directory (default: a fresh ./"+outRoot+"/<name>-<seed>-<n>)")
	cmd.Flags().StringVar(&f.format, "pcap-format", "pcapng", "capture format: pcapng or pcap")
	cmd.Flags().StringVar(&f.report, "report", "", "html: also write report.html, one self-contained page with the run's tables and plots")
	cmd.Flags().BoolVar(&f.force, "force", false, "write into an --out directory that already holds files")
	cmd.Flags().BoolVar(&f.quiet, "quiet", false, "no progress line on stderr (it shows only on a terminal, for runs over a second)")
	cmd.Flags().StringVar(&f.capture, "capture", "", "what to capture: all, hosts or none (default: the file's capture block, else all)")
	cmd.Flags().BoolVar(&f.series, "series", false, "write time series as CSV into DIR/series: tcp.csv (per connection), queue.csv (per rate-limited link direction), app.csv (goodput per interval)")
	cmd.Flags().IntVar(&f.seriesMax, "series-max", scenario.DefaultSeriesMax, "rows kept per connection and per queue in the series, decimated keeping first, last and extreme rows (0: keep every row)")
}

// newRunCmd builds `simnet run FILE`.
func newRunCmd() *cobra.Command {
	var f runFlags
	var sets []string
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a scenario file in the simulator",
		Long: `run reads a scenario file (see docs/scenarios.md), runs it in the simulator
on virtual time, writes one capture per host and report.json into the output
directory and prints a summary.

Exit status: 0 when every expectation passed, 1 when one failed (each failed
expectation is named on stderr), 2 for a usage or scenario error (one line per
problem, FILE:LINE: field "...": message).

With --tap NAME:SWITCH (repeatable) the world runs on the wall clock for the
scenario's duration, with the Linux tap device NAME bridged into the switch
SWITCH: the kernel side of the tap is one more station on that switch. The
tap port is captured too (tap-NAME.pcapng).

Ctrl-C (SIGINT) or SIGTERM stops the run at the current simulated instant:
every capture is closed validly, report.json says "interrupted": true with the
simulated time reached ("simulated_ns"), the summary is printed and the exit
status is 130. A second signal ends the process at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var assigns []sweep.Assignment
			for _, v := range sets {
				a, err := sweep.ParseAssignment(v)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "simnet: %v\n", err)
					exitRun(exitScenario)
					return nil
				}
				assigns = append(assigns, a)
			}
			s, err := sweep.Load(args[0], assigns)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				exitRun(exitScenario)
				return nil
			}
			for _, w := range s.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "simnet run: warning: %s\n", w)
			}
			if code := runScenario(cmd.OutOrStdout(), cmd.ErrOrStderr(), s, f, cmd.Flags().Changed("seed"), false); code != exitOK {
				exitRun(code)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVar(&f.taps, "tap", nil, "NAME:SWITCH: bridge the Linux tap device NAME into the scenario's switch SWITCH and run on the wall clock (emulation; repeatable; see docs/scenarios.md)")
	cmd.Flags().BoolVar(&f.tapCreate, "tap-create", false, "create a --tap device that does not exist (removed again on exit)")
	cmd.Flags().StringVar(&f.user, "user", "", "with --tap, when started as root: drop to this user (name or uid) and its groups once the taps and captures are open; the output directory is handed to the user")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "PATH=VALUE: set a scenario parameter, e.g. links.wan.impair.loss=1% (repeatable; see simnet sweep)")
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
	if err := checkReportFlag(f.report, "-"); err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	mode, err := scenario.ParseCaptureMode(f.capture)
	if err != nil {
		fmt.Fprintf(stderr, "simnet: --capture: %v\n", err)
		return exitScenario
	}
	var taps []emulate.Tap
	for _, v := range f.taps {
		t, err := emulate.ParseTap(v)
		if err != nil {
			fmt.Fprintf(stderr, "simnet: %v\n", err)
			return exitScenario
		}
		taps = append(taps, t)
	}
	if err := emulate.CheckTaps(s, taps); err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	var cred *privdrop.Credential
	if f.user != "" {
		switch {
		case len(taps) == 0:
			fmt.Fprintf(stderr, "simnet: --user works with --tap only (a simulated run needs no privilege)\n")
			return exitScenario
		case f.tapCreate:
			fmt.Fprintf(stderr, "simnet: --user and --tap-create exclude each other: removing the device at exit needs root; create it for the user first (ip tuntap add dev NAME mode tap user %s)\n", f.user)
			return exitScenario
		}
		c, err := privdrop.Lookup(f.user)
		if err != nil {
			fmt.Fprintf(stderr, "simnet: %v\n", err)
			return exitScenario
		}
		cred = &c
	}
	seed := s.Seed
	if seedSet {
		seed = f.seed
	}
	dir := f.out
	if dir == "" {
		dir, err = freshDir(outRoot, fmt.Sprintf("%s-%d", s.Name, seed))
	} else {
		if err := checkOutDir(dir, f.force); err != nil {
			fmt.Fprintf(stderr, "simnet: %v\n", err)
			return exitScenario
		}
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(stderr, "simnet: output directory: %v\n", err)
		return exitScenario
	}
	stop, release := interruptible()
	defer release()
	opts := scenario.Options{Seed: seed, SeedSet: true, OutDir: dir, Format: format, Stop: stop, Capture: mode}
	if f.seriesMax < 0 {
		fmt.Fprintf(stderr, "simnet: --series-max %d: must be 0 (every row) or positive\n", f.seriesMax)
		return exitScenario
	}
	// The HTML report's plots are made from the series, kept in memory.
	opts.Series = f.series || f.report == "html"
	opts.SeriesMax = f.seriesMax
	opts.Flows = true
	switch {
	case !f.series && opts.Series:
		// Only for the page's plots, which thin to MaxBins points: keep
		// the memory of a run with many connections small.
		opts.SeriesMax = htmlSeriesMax
	case f.seriesMax == 0:
		opts.SeriesMax = -1
	}
	var emu *emulate.Driver
	if len(taps) > 0 {
		capDir := dir
		if mode == scenario.CaptureNone {
			capDir = ""
		}
		emu = newEmulation(stderr, s, taps, f, capDir, format, dir, cred)
		opts.Driver = emu
	}
	progress := newProgressLine(stderr, f.quiet || emu != nil)
	if progress != nil {
		opts.Progress = progress.update
	}
	rep, err := scenario.Run(s, opts)
	progress.done()
	if err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	if err := scenario.WriteReport(dir, rep); err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	var seriesFiles []string
	if f.series && rep.Series != nil {
		if seriesFiles, err = rep.Series.WriteCSV(dir); err != nil {
			fmt.Fprintf(stderr, "simnet: %v\n", err)
			return exitScenario
		}
	}
	if f.report == "html" {
		if err := writeRunReport(dir, s, rep); err != nil {
			fmt.Fprintf(stderr, "simnet: %v\n", err)
			return exitScenario
		}
	}
	if err := rep.WriteSummary(stdout); err != nil {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return exitScenario
	}
	if emu != nil {
		for _, st := range emu.Stats() {
			fmt.Fprintf(stdout, "tap %s (switch %s): %d frames in, %d out, %d dropped, %d write errors\n",
				st.Tap.Name, st.Tap.Switch, st.Device.RxFrames, st.Device.TxFrames, st.Device.RxDropped, st.Device.TxErrors)
		}
	}
	fmt.Fprintf(stdout, "output: %s\n", dir)
	for _, c := range append(rep.Captures, rep.SwitchCaptures...) {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, c))
	}
	fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, scenario.ReportFile))
	for _, p := range seriesFiles {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, p))
	}
	if f.report == "html" {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, htmlreport.File))
	}
	if demo && len(rep.Captures) > 0 {
		// The demo's last host is the client, whose capture tells the
		// story from DHCP to the echo exchange.
		last := filepath.Join(dir, rep.Captures[len(rep.Captures)-1])
		fmt.Fprintf(stdout, "open a capture with:\n  wireshark %s\n  tshark -r %s -Y 'dhcp || dns || http || tcp.port == 7 || icmp'\n", last, last)
	}
	if rep.Interrupted {
		fmt.Fprintf(stderr, "simnet: interrupted after %v of %s simulated\n", rep.Simulated, rep.Duration)
		return exitInterrupted
	}
	if failed := rep.Failed(); len(failed) > 0 {
		for _, e := range failed {
			fmt.Fprintf(stderr, "simnet: expectation failed: %s\n", e)
		}
		return exitFailed
	}
	return exitOK
}

// interruptSignals are the signals that stop a run early.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// interruptible returns a channel closed on the first of interruptSignals,
// and a function that releases the handler. The handler is released at the
// first signal too, so a second one ends the process the default way.
func interruptible() (stop <-chan struct{}, release func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, interruptSignals...)
	stopc, done := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-sigs:
			signal.Stop(sigs)
			close(stopc)
		case <-done:
		}
	}()
	var once sync.Once
	return stopc, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
		})
	}
}

// checkOutDir refuses an output directory that already holds files (from an
// earlier run, whose captures would mix with this one's) unless force is
// set. A missing or empty directory is fine.
func checkOutDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--out %s: %w", dir, err)
	case len(entries) > 0 && !force:
		return fmt.Errorf("--out %s: the directory already holds %d files (from an earlier run?); choose another or pass --force", dir, len(entries))
	}
	return nil
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

// newEmulation returns the driver of an emulated run: the taps bridged,
// their ports captured in capDir, and a line on stderr once they are open;
// with cred, the output directory dir is handed to that user and the
// process drops to it before the world runs.
func newEmulation(stderr io.Writer, s *scenario.Scenario, taps []emulate.Tap, f runFlags, capDir string, format pcap.Format,
	dir string, cred *privdrop.Credential) *emulate.Driver {
	var names []string
	for _, t := range taps {
		names = append(names, fmt.Sprintf("%s into switch %s", t.Name, t.Switch))
	}
	snap := 0
	if s.Capture != nil {
		snap = s.Capture.SnapLen
	}
	d, _ := emulate.New(emulate.Config{Taps: taps, Create: f.tapCreate, CaptureDir: capDir, Format: format, SnapLen: snap,
		Ready: func() error {
			fmt.Fprintf(stderr, "simnet: emulating %s on the wall clock for %v: bridged %s (Ctrl-C stops)\n",
				s.Name, s.Duration, strings.Join(names, ", "))
			if cred == nil {
				return nil
			}
			if err := handOver(dir, *cred); err != nil {
				return err
			}
			if err := privdrop.Drop(*cred); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "simnet: running as user %s (uid %d, gid %d)\n", cred.Name, cred.UID, cred.GID)
			return nil
		}})
	return d
}

// handOver gives the output directory and the files already in it (the
// open captures) to c, so that the run can still write its report once it
// runs as c. Only root changes owners; as anyone else it does nothing.
func handOver(dir string, c privdrop.Credential) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, c.UID, c.GID); err != nil {
			return fmt.Errorf("--user %s: hand over the output: %w", c.Name, err)
		}
		return nil
	})
}
