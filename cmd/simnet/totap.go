package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/replay/totap"
)

// tapOpts are the flags of `simnet replay FILE --to-tap TAP`, named as
// tcpreplay and tcprewrite name them.
type tapOpts struct {
	speed      float64 // deprecated --speed: a multiplier, 0 for topspeed
	multiplier float64
	mbps, pps  float64
	topspeed   bool
	loop       int
	limit      int
	duration   string
	stats      int
	rewriteIP  []string
	rewriteMAC []string
	fixcsum    bool
}

// tapOnlyFlags are the flags that mean something only with --to-tap.
var tapOnlyFlags = []string{"speed", "multiplier", "mbps", "pps", "topspeed", "loop", "limit", "duration", "stats",
	"rewrite-ip", "rewrite-mac", "fixcsum"}

// addTapFlags registers the --to-tap flags on fl.
func addTapFlags(fl *pflag.FlagSet, o *tapOpts) {
	fl.Float64Var(&o.multiplier, "multiplier", 0, "--to-tap: send at the recorded pace times this factor (tcpreplay --multiplier)")
	fl.Float64Var(&o.mbps, "mbps", 0, "--to-tap: send at this many megabits per second, whatever the timestamps")
	fl.Float64Var(&o.pps, "pps", 0, "--to-tap: send this many frames per second, whatever the timestamps")
	fl.BoolVar(&o.topspeed, "topspeed", false, "--to-tap: send as fast as the tap takes the frames")
	fl.IntVar(&o.loop, "loop", 1, "--to-tap: send the capture this many times (0: until --limit, --duration or Ctrl-C)")
	fl.IntVar(&o.limit, "limit", 0, "--to-tap: stop after sending this many frames")
	fl.StringVar(&o.duration, "duration", "", "--to-tap: stop after this long (seconds, or a duration such as 1m30s)")
	fl.IntVar(&o.stats, "stats", 0, "--to-tap: print the running totals on stderr every this many seconds")
	fl.StringArrayVar(&o.rewriteIP, "rewrite-ip", nil, "--to-tap: replace IPv4 address OLD with NEW (OLD=NEW; repeatable), checksums updated")
	fl.StringArrayVar(&o.rewriteMAC, "rewrite-mac", nil, "--to-tap: replace Ethernet address OLD with NEW (OLD=NEW; repeatable)")
	fl.BoolVar(&o.fixcsum, "fixcsum", false, "--to-tap: recompute the IPv4, TCP, UDP and ICMP checksums of every frame")
	fl.Float64Var(&o.speed, "speed", 1, "--to-tap: pace multiplier, 0 as fast as possible")
	_ = fl.MarkDeprecated("speed", "use --multiplier X, or --topspeed for --speed 0")
}

// options turns the flags into totap.Options, or says which flag is wrong.
func (o *tapOpts) options(cmd *cobra.Command) (totap.Options, error) {
	var opt totap.Options
	r := totap.Rate{Multiplier: o.multiplier, Mbps: o.mbps, PPS: o.pps, Topspeed: o.topspeed}
	if cmd.Flags().Changed("speed") {
		if cmd.Flags().Changed("multiplier") || o.mbps != 0 || o.pps != 0 || o.topspeed {
			return opt, errors.New("--speed is the old name of --multiplier: give one rate flag")
		}
		switch {
		case o.speed < 0:
			return opt, errors.New("--speed must not be negative")
		case o.speed == 0:
			r.Topspeed = true
		default:
			r.Multiplier = o.speed
		}
	}
	if cmd.Flags().Changed("multiplier") && o.multiplier <= 0 {
		return opt, fmt.Errorf("--multiplier must be positive, not %v", o.multiplier)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"mbps", o.mbps}, {"pps", o.pps}} {
		if cmd.Flags().Changed(f.name) && f.v <= 0 {
			return opt, fmt.Errorf("--%s must be positive, not %v", f.name, f.v)
		}
	}
	if err := r.Validate(); err != nil {
		return opt, err
	}
	opt.Rate = r
	if o.loop < 0 || o.limit < 0 || o.stats < 0 {
		return opt, errors.New("--loop, --limit and --stats must not be negative")
	}
	opt.Loop, opt.Limit = o.loop, o.limit // --loop 0: until interrupted, as tcpreplay
	if o.duration != "" {
		d, err := parseSeconds(o.duration)
		if err != nil {
			return opt, fmt.Errorf("--duration %s: %w", oneLine(o.duration), err)
		}
		opt.Duration = d
	}
	opt.StatsEvery = time.Duration(o.stats) * time.Second
	rw, err := parseRewrites(o.rewriteIP, o.rewriteMAC, o.fixcsum)
	if err != nil {
		return opt, err
	}
	opt.Rewrite = rw
	return opt, nil
}

// parseSeconds reads a positive number of seconds ("10", "0.5") or a Go
// duration ("1m30s").
func parseSeconds(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, errors.New("not a number of seconds or a duration such as 1m30s")
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// parseRewrites builds the rewriter of --rewrite-ip, --rewrite-mac and
// --fixcsum; nil when none is given.
func parseRewrites(ips, macs []string, fix bool) (*totap.Rewriter, error) {
	if len(ips) == 0 && len(macs) == 0 && !fix {
		return nil, nil
	}
	rw := &totap.Rewriter{FixCsum: fix}
	for _, s := range ips {
		o, n, ok := strings.Cut(s, "=")
		a, aerr := netip.ParseAddr(o)
		b, berr := netip.ParseAddr(n)
		if !ok || aerr != nil || berr != nil || !a.Is4() || !b.Is4() {
			return nil, fmt.Errorf("--rewrite-ip %s: want OLD=NEW, two IPv4 addresses", oneLine(s))
		}
		if rw.IP == nil {
			rw.IP = make(map[[4]byte][4]byte)
		}
		if _, dup := rw.IP[a.As4()]; dup {
			return nil, fmt.Errorf("--rewrite-ip %s: %s is rewritten twice", oneLine(s), a)
		}
		rw.IP[a.As4()] = b.As4()
	}
	for _, s := range macs {
		o, n, ok := strings.Cut(s, "=")
		a, aerr := ether.ParseAddr(o)
		b, berr := ether.ParseAddr(n)
		if !ok || aerr != nil || berr != nil {
			return nil, fmt.Errorf("--rewrite-mac %s: want OLD=NEW, two Ethernet addresses", oneLine(s))
		}
		if rw.MAC == nil {
			rw.MAC = make(map[ether.Addr]ether.Addr)
		}
		if _, dup := rw.MAC[a]; dup {
			return nil, fmt.Errorf("--rewrite-mac %s: %s is rewritten twice", oneLine(s), a)
		}
		rw.MAC[a] = b
	}
	return rw, nil
}

// runToTap sends the capture out of a tap and returns the exit status: 0
// (also when interrupted by SIGINT or SIGTERM, after the summary), 1 when
// the tap fails while sending, 2 for bad flags, a tap that does not exist,
// or a bad or truncated capture.
func runToTap(ctx context.Context, cmd *cobra.Command, stdout, stderr io.Writer, path, dev string, o *tapOpts) int {
	opt, err := o.options(cmd)
	if err != nil {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// Ctrl-C (or SIGTERM) ends the replay with its summary, as in
	// tcpreplay; --loop 0 runs until then.
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opt.StatsEvery > 0 {
		opt.OnStats = func(st totap.Stats) { writeTapRates(stderr, st) }
	}
	st, err := totap.ToTap(sigCtx, path, dev, opt)
	var te *input.TruncatedError
	switch {
	case err == nil, errors.Is(err, context.Canceled) && sigCtx.Err() != nil && ctx.Err() == nil:
		writeTapSummary(stdout, dev, opt, st)
		return 0
	case errors.Is(err, tap.ErrNotFound), errors.Is(err, input.ErrNotCapture):
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	case errors.As(err, &te):
		writeTapSummary(stdout, dev, opt, st) // what came before the break was sent
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	writeTapSummary(stdout, dev, opt, st)
	fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
	return 1
}

// writeTapRates prints totals as tcpreplay does.
func writeTapRates(w io.Writer, st totap.Stats) {
	fmt.Fprintf(w, "Actual: %d packets (%d bytes) sent in %.2f seconds\n", st.Frames, st.Bytes, st.Duration.Seconds())
	bps := 0.0
	if st.Duration > 0 {
		bps = float64(st.Bytes) / st.Duration.Seconds()
	}
	fmt.Fprintf(w, "Rated: %.1f Bps, %.3f Mbps, %.2f pps\n", bps, st.Mbps(), st.PPS())
}

// writeTapSummary prints the final summary of a replay to a tap.
func writeTapSummary(w io.Writer, dev string, opt totap.Options, st totap.Stats) {
	fmt.Fprintf(w, "sent %d frames (%d bytes) to %s in %v; %d refused, %d skipped\n",
		st.Frames, st.Bytes, dev, st.Duration.Round(time.Millisecond), st.Errors, st.Skipped)
	writeTapRates(w, st)
	fmt.Fprintf(w, "Statistics for network device: %s\n", dev)
	fmt.Fprintf(w, "\tSuccessful packets:        %d\n", st.Frames)
	fmt.Fprintf(w, "\tFailed packets:            %d\n", st.Errors)
	fmt.Fprintf(w, "\tSkipped packets:           %d\n", st.Skipped)
	fmt.Fprintf(w, "\tPasses over the capture:   %d\n", st.Passes)
	if opt.Rate.Topspeed {
		fmt.Fprintf(w, "Pacing: %s\n", opt.Rate)
	} else {
		fmt.Fprintf(w, "Pacing: %s; frames sent %v late on average, %v at most\n", opt.Rate,
			st.MeanLate.Round(time.Microsecond), st.MaxLate.Round(time.Microsecond))
	}
}
