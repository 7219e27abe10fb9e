package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/sweep"
)

func init() { rootCmd.AddCommand(newSweepCmd()) }

// sweepGCPercent is the collector's target a sweep runs with when GOGC is
// not set.
const sweepGCPercent = 400

// newSweepCmd builds `simnet sweep FILE` and `simnet sweep merge DIR...`.
func newSweepCmd() *cobra.Command {
	var (
		seeds, shard, out string
		sets              []string
		parallel          int
		force             bool
	)
	cmd := &cobra.Command{
		Use:   "sweep FILE --seeds A-B [--set PATH=V1,V2,...]... --out DIR",
		Short: "Run a scenario over many seeds and parameter values and summarise the runs",
		Long: `sweep runs the scenario FILE once per seed and per point of the parameter
grid the --set flags span (--set links.wan.impair.loss=0.5%,1%,2% --set
apps.up.cc=cubic,newreno is 6 points), each run deterministic, --parallel at
a time (default: one per core). It writes into DIR:

  summary.csv    one row per run: seed, parameters, verdict, metrics, reproduce command
  summary.json   the runs, per grid point pass counts and metric percentiles, the failures
  summary.html   the same as one page with plots
  results.jsonl  the raw results, which "simnet sweep merge" reads
  runs/NNNNNN/   captures and report.json of each failing run (passing runs keep nothing)

Every failing run names the command that reproduces it (simnet run FILE
--seed S --set ...). --shard I/N runs the I-th of N shares of the runs (by
default taken from the Kubernetes Indexed Job variables JOB_COMPLETION_INDEX
and JOB_COMPLETIONS when they are set); "simnet sweep merge DIR..." joins the
shards' outputs into the summary one unsharded sweep writes.

Exit status: 0 when every run passed, 1 when a run failed, 2 for a usage or
scenario error, 130 when interrupted (the summary covers the runs done).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			fail := func(format string, a ...any) error {
				fmt.Fprintf(stderr, "simnet sweep: "+format+"\n", a...)
				exitRun(exitScenario)
				return nil
			}
			spec := sweep.Spec{File: args[0]}
			var err error
			if spec.Seeds, err = sweep.ParseSeeds(seeds); err != nil {
				return fail("%v", err)
			}
			for _, s := range sets {
				set, err := sweep.ParseSet(s)
				if err != nil {
					return fail("%v", err)
				}
				spec.Sets = append(spec.Sets, set)
			}
			if parallel < 1 {
				return fail("--parallel %d: want at least 1", parallel)
			}
			if out == "" {
				return fail("--out DIR is required")
			}
			shardI, shardN, shardName, err := shardOf(shard)
			if err != nil {
				return fail("%v", err)
			}
			// Check the file and every grid point before running anything,
			// so a bad value is one line and exit 2, not N failed runs.
			for _, point := range sweep.Grid(spec.Sets) {
				if _, err := sweep.Load(spec.File, point); err != nil {
					return fail("%v", err)
				}
			}
			if err := sweepOutDir(out, force); err != nil {
				return fail("%v", err)
			}
			jobs := spec.Jobs()
			if shardN > 0 {
				jobs = sweep.Shard(jobs, shardI, shardN)
			}
			if os.Getenv("GOGC") == "" {
				// Runs are short and allocate briskly; with the default
				// GOGC=100 the collector, not the runs, is what the cores
				// share (BenchmarkSweepSeedStory: 1.65x on two cores at
				// 100, 1.88x at 400). GOGC in the environment still wins.
				debug.SetGCPercent(sweepGCPercent)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			results, runErr := sweep.Run(ctx, spec, jobs, sweep.Options{
				Parallel: parallel, OutDir: out,
				Progress: func(done, total int, r sweep.Result) {
					if !r.Passed {
						fmt.Fprintf(stderr, "simnet sweep: run %d (seed %d) failed [%d/%d]: %s\n", r.Index, r.Seed, done, total, r.Reproduce)
					}
				},
			})
			if err := sweep.Write(out, spec, shardName, results); err != nil {
				return fail("%v", err)
			}
			sum := sweep.Summarise(spec, shardName, results)
			fmt.Fprintf(cmd.OutOrStdout(), "%d runs, %d passed, %d failed (%s wall, %d parallel)\nsummary: %s\n",
				sum.Ran, sum.Passed, len(sum.Failures), time.Since(start).Round(time.Millisecond), parallel,
				filepath.Join(out, sweep.SummaryHTML))
			switch {
			case runErr != nil:
				fmt.Fprintf(stderr, "simnet sweep: interrupted after %d of %d runs\n", len(results), len(jobs))
				exitRun(exitInterrupted)
			case len(sum.Failures) > 0:
				exitRun(exitFailed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&seeds, "seeds", "", "seeds to run: A-B, N, or a comma-separated list of either (required)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "PATH=V1,V2,...: a scenario parameter and its values (repeatable)")
	cmd.Flags().IntVar(&parallel, "parallel", runtime.NumCPU(), "runs at once")
	cmd.Flags().StringVar(&shard, "shard", "", "I/N: run the I-th of N shares of the runs")
	cmd.Flags().StringVar(&out, "out", "", "output directory (required)")
	cmd.Flags().BoolVar(&force, "force", false, "write into a directory that holds an earlier sweep")
	_ = cmd.MarkFlagRequired("seeds")
	cmd.AddCommand(newSweepMergeCmd())
	return cmd
}

// shardOf resolves --shard, or the Kubernetes Indexed Job variables when
// --shard is not given. n is 0 for an unsharded sweep.
func shardOf(flag string) (i, n int, name string, err error) {
	if flag == "" {
		idx, okIdx := os.LookupEnv("JOB_COMPLETION_INDEX")
		cnt, okCnt := os.LookupEnv("JOB_COMPLETIONS")
		if !okIdx || !okCnt {
			return 0, 0, "", nil
		}
		k, err1 := strconv.Atoi(idx)
		c, err2 := strconv.Atoi(cnt)
		if err1 != nil || err2 != nil || c < 1 || k < 0 || k >= c {
			return 0, 0, "", fmt.Errorf("JOB_COMPLETION_INDEX=%q JOB_COMPLETIONS=%q: want 0 <= index < completions", idx, cnt)
		}
		flag = fmt.Sprintf("%d/%d", k+1, c)
	}
	i, n, err = sweep.ParseShard(flag)
	if err != nil {
		return 0, 0, "", err
	}
	if n == 1 {
		return 0, 0, "", nil
	}
	return i, n, flag, nil
}

// sweepOutDir creates dir, refusing one that holds an earlier sweep unless
// force is set.
func sweepOutDir(dir string, force bool) error {
	if _, err := os.Stat(filepath.Join(dir, sweep.SpecFile)); err == nil && !force {
		return fmt.Errorf("--out %s holds an earlier sweep (use --force to overwrite it)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	return nil
}

// newSweepMergeCmd builds `simnet sweep merge DIR... --out OUT`.
func newSweepMergeCmd() *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "merge DIR... --out OUT",
		Short: "Join the outputs of sweep shards into one summary",
		Long: `merge reads the results of shards of one sweep (directories written by
"simnet sweep --shard I/N"), checks that they belong to the same sweep and do
not overlap, copies the failing runs' captures and writes into OUT the summary
an unsharded sweep would have written. It says which runs are missing when the
shards do not cover the sweep.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "simnet sweep merge: --out OUT is required")
				exitRun(exitScenario)
				return nil
			}
			if err := sweepOutDir(out, force); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "simnet sweep merge: %v\n", err)
				exitRun(exitScenario)
				return nil
			}
			sum, err := sweep.Merge(out, args)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "simnet sweep %v\n", err)
				exitRun(exitScenario)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d of %d runs, %d passed, %d failed\nsummary: %s\n",
				sum.Ran, sum.Total, sum.Passed, len(sum.Failures), filepath.Join(out, sweep.SummaryHTML))
			if !sum.Complete {
				fmt.Fprintf(cmd.ErrOrStderr(), "simnet sweep merge: %d runs missing: the shards do not cover the sweep\n", sum.Total-sum.Ran)
				exitRun(exitScenario)
				return nil
			}
			if len(sum.Failures) > 0 {
				exitRun(exitFailed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output directory (required)")
	cmd.Flags().BoolVar(&force, "force", false, "write into a directory that holds an earlier sweep")
	return cmd
}
