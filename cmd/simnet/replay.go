package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/replay/analyze"
	"github.com/simnet-go/simnet/replay/clientrole"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/follow"
	"github.com/simnet-go/simnet/replay/hostrole"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/replay/tcpexpert"
)

func init() { rootCmd.AddCommand(newReplayCmd()) }

// exitReplay ends the process with a status; tests replace it.
var exitReplay = os.Exit

// replayOpts are the flags of `simnet replay`.
type replayOpts struct {
	asJSON          bool
	as              string
	out             string
	echo, http, dns uint16
	httpRoot        string
	zone            string
	zoneOrigin      string
	tolerance       uint32
	toTap           string
	tap             tapOpts
	report          string
	force           bool
	learn           bool
	client          clientRoleOpts
	follow          string
}

// Replay modes, for the flags each one takes.
const (
	modeAnalyze = 1 << iota
	modeHostRole
	modeToTap
	modeClientRole
)

// replayFlagModes lists the modes in which each flag does something; a flag
// given in another mode is a usage error rather than silently ignored.
var replayFlagModes = map[string]int{
	"json": modeAnalyze | modeHostRole | modeClientRole, "as": modeHostRole, "out": modeHostRole | modeAnalyze | modeClientRole, "report": modeAnalyze,
	"echo": modeHostRole, "http": modeHostRole, "http-root": modeHostRole, "dns": modeHostRole,
	"zone": modeHostRole, "zone-origin": modeHostRole, "tolerance-window": modeHostRole, "learn": modeHostRole,
	"force": modeHostRole | modeClientRole, "to-tap": modeToTap | modeClientRole,
	"follow": modeAnalyze, "as-client": modeClientRole, "server": modeClientRole, "step-timeout": modeClientRole,
}

func init() {
	for _, n := range tapOnlyFlags {
		replayFlagModes[n] = modeToTap
	}
}

// checkReplayFlags returns a usage error for a flag that does nothing in
// the chosen mode.
func checkReplayFlags(cmd *cobra.Command, mode int) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || !f.Changed || replayFlagModes[f.Name]&mode != 0 {
			return
		}
		switch m := replayFlagModes[f.Name]; {
		case m == modeClientRole:
			err = fmt.Errorf("--%s only applies with --as-client (live client-role replay)", f.Name)
		case mode == modeClientRole:
			err = fmt.Errorf("--%s does not apply with --as-client", f.Name)
		case m == modeToTap:
			err = fmt.Errorf("--%s only applies with --to-tap", f.Name)
		case m&modeHostRole != 0 && m&modeAnalyze == 0:
			err = fmt.Errorf("--%s only applies with --as (host-role replay)", f.Name)
		default:
			err = fmt.Errorf("--%s does not apply with --to-tap", f.Name)
		}
	})
	return err
}

// newReplayCmd builds `simnet replay FILE [--json]`, `simnet replay FILE
// --as ADDR --out DIR [services]` and `simnet replay FILE --to-tap NAME`.
func newReplayCmd() *cobra.Command {
	var o replayOpts
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Analyse a capture, replay a host's role with simnet's stack, or send it out of a tap",
		Long: `replay reads a pcap or pcapng file (gzip-compressed or not), decodes every
frame with simnet's own protocol parsers and prints per-protocol frame counts,
TCP connections, DNS query/response pairs, DHCP exchanges and the frames the
parsers rejected.

With --as ADDR, simnet's stack takes the role of the host with that address
(host-role replay): the frames the capture shows arriving at it are fed to our
stack at their recorded times, the peer's TCP acknowledgements rewritten onto
our sequence numbers; our replies are written to DIR/replay.pcapng
(interleaved with the input, with direction flags) and compared with the
recorded ones in DIR/diff.json and DIR/summary.txt (also printed). The host
runs the services named by --echo, --http and --dns. See docs/replay.md.

With --to-tap NAME, the capture's frames are sent out of the existing tap
device NAME, as tcpreplay sends them: at their recorded pace (times
--multiplier), at --mbps or --pps, or at --topspeed; --loop, --limit and
--duration say how much; --stats prints running totals; --rewrite-ip,
--rewrite-mac and --fixcsum rewrite frames as tcprewrite does.

With --as-client ADDR --to-tap NAME --server ADDR:PORT, simnet's stack takes
the recorded client's place on the tap and replays the client of the TCP
flow to that port against the live server: it connects, sends the recorded
client's bytes in order (each write once the server has sent what the
recorded client had received), and compares the live server's answers with
the recorded ones.

A file that is not a capture, or is cut off, gives one line on stderr and exit
status 2; for a cut-off file what was read before the break is still reported.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var code int
			mode := modeAnalyze
			switch {
			case o.as != "" && o.client.asClient != "":
				return errors.New("--as and --as-client exclude each other")
			case o.client.asClient != "":
				mode = modeClientRole
			case o.as != "" && o.toTap != "":
				return errors.New("--as and --to-tap exclude each other")
			case o.as != "":
				mode = modeHostRole
			case o.toTap != "":
				mode = modeToTap
			}
			if err := checkReplayFlags(cmd, mode); err != nil {
				return err
			}
			switch mode {
			case modeHostRole:
				code = runHostRole(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], &o)
			case modeClientRole:
				code = runClientRole(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], &o)
			case modeToTap:
				code = runToTap(cmd.Context(), cmd, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o.toTap, &o.tap)
			default:
				if err := checkReportFlag(o.report, o.out); err != nil {
					return err
				}
				if o.out != "" && o.report == "" {
					return errors.New("--out only applies with --as (host-role replay) or --report html")
				}
				if o.follow != "" {
					if o.asJSON || o.report != "" {
						return errors.New("--follow prints one stream: it takes neither --json nor --report")
					}
					code = runFollow(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o.follow)
					break
				}
				code = runReplay(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o.asJSON)
				if code == 0 && o.report != "" {
					code = writeReplayReport(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o.out)
				}
			}
			if code != 0 {
				exitReplay(code)
			}
			return nil
		},
		SilenceUsage: true,
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.asJSON, "json", false, "print the analysis (or the host-role result) as one JSON object")
	fl.StringVar(&o.as, "as", "", "replay the role of the host with this IPv4 or IPv6 address")
	fl.StringVar(&o.out, "out", "", "output directory of a host-role replay (required with --as)")
	fl.Uint16Var(&o.echo, "echo", 0, "run a TCP echo service on this port")
	fl.Uint16Var(&o.http, "http", 0, "run an HTTP server on this port")
	fl.StringVar(&o.httpRoot, "http-root", "", "directory the HTTP server serves (default: the built-in page)")
	fl.Uint16Var(&o.dns, "dns", 0, "run a DNS server (UDP and TCP) on this port, answering from --zone")
	fl.StringVar(&o.zone, "zone", "", "master file (RFC 1035) the DNS server answers from")
	fl.StringVar(&o.zoneOrigin, "zone-origin", "", "the zone's name, and the origin of relative names until a $ORIGIN (default: the owner of the file's SOA record, which must then be absolute or follow a $ORIGIN)")
	fl.Uint32Var(&o.tolerance, "tolerance-window", 0, "window difference in bytes not reported by the diff")
	fl.StringVar(&o.toTap, "to-tap", "", "send the capture's frames out of this existing tap device")
	addTapFlags(fl, &o.tap)
	fl.StringVar(&o.report, "report", "", "html: also write OUT/report.html with the TCP stream graphs of every flow (needs --out)")
	fl.BoolVar(&o.force, "force", false, "write into an --out directory that already holds files")
	fl.StringVar(&o.client.asClient, "as-client", "", "live client-role replay: our stack takes this address (ADDR or ADDR/BITS, default /24) on --to-tap and replays the recorded client of a TCP flow against --server")
	fl.StringVar(&o.client.server, "server", "", "with --as-client, the live server ADDR:PORT (the recorded flow to this port is replayed)")
	fl.DurationVar(&o.client.stepTimeout, "step-timeout", clientrole.DefaultStepTimeout, "with --as-client, how long a write waits for the server bytes the recorded client had before it")
	fl.StringVar(&o.follow, "follow", "", "print one stream's bytes as `tshark -z follow,tcp,ascii` does: N (the N-th TCP connection, from 0), udp,N, or [tcp|udp,]ADDR:PORT,ADDR:PORT")
	fl.BoolVar(&o.learn, "learn", true, "with --as, also run the services learnt from the capture (HTTP, echo, DNS with --zone, DHCP)")
	return cmd
}

// runReplay analyses path, writes the report to stdout and problems to
// stderr, and returns the exit status: 0, or 2 for a file that is not a
// capture or is truncated.
func runReplay(stdout, stderr io.Writer, path string, asJSON bool) int {
	return analyzeCapture(stdout, stderr, fileCapture(path), asJSON)
}

// capture is a capture to read: its name (in messages) and how to open it.
// Commands read files; tests and fuzz targets read bytes in memory.
type capture struct {
	name string
	open func() (*input.Reader, error)
}

// fileCapture is the capture file at path.
func fileCapture(path string) capture {
	return capture{name: path, open: func() (*input.Reader, error) { return input.Open(path) }}
}

// analyzeCapture is runReplay over c.
func analyzeCapture(stdout, stderr io.Writer, c capture, asJSON bool) int {
	path := c.name
	var res *analyze.Result
	r, err := c.open()
	if err == nil {
		res, err = analyze.Run(r)
		_ = r.Close()
	}
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
	if len(res.TCPAnalysis) > 0 {
		fmt.Fprintln(tw, "\nTCP ANALYSIS (tcp.analysis.*)\tFRAMES")
		for _, n := range tcpexpert.Names {
			if c := res.TCPAnalysis[n]; c > 0 {
				fmt.Fprintf(tw, "%s\t%d\n", n, c)
			}
		}
	}
	for _, t := range []struct {
		name  string
		convs []*analyze.Conversation
	}{{"IPV4 CONVERSATION (-z conv,ip)", res.Conversations.IP}, {"UDP CONVERSATION (-z conv,udp)", res.Conversations.UDP}} {
		if len(t.convs) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\t<- FRAMES\t<- BYTES\t-> FRAMES\t-> BYTES\tFRAMES\tBYTES\tREL START\tDURATION\n", t.name)
		for _, c := range t.convs {
			fmt.Fprintf(tw, "%s <-> %s\t%d\t%d\t%d\t%d\t%d\t%d\t%.9f\t%.4f\n", c.A, c.B, c.FramesBtoA, c.BytesBtoA,
				c.FramesAtoB, c.BytesAtoB, c.Frames, c.Bytes, c.RelStart, c.Duration)
		}
	}
	if len(res.Flows.DNS) > 0 {
		fmt.Fprintln(tw, "\nDNS CLIENT -> SERVER\tID\tQUESTION\tQUERY\tRESPONSE\tRCODE\tANSWERS\tRTT")
		for _, d := range res.Flows.DNS {
			rtt := "-"
			if d.QueryFrame > 0 && d.ResponseFrame > 0 {
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
			fmt.Fprintf(tw, "frame %d\t%s\n", r.Frame, r.Reason)
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

// runFollow prints the selected stream of path.
func runFollow(stdout, stderr io.Writer, path, flow string) int {
	sel, err := follow.ParseSelector(flow)
	if err != nil {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	r, err := input.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	defer r.Close()
	st, err := follow.Follow(r, sel)
	if st == nil {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	if werr := st.WriteASCII(stdout); werr != nil {
		fmt.Fprintf(stderr, "simnet replay: %v\n", werr)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "simnet replay: %s: %s\n", oneLine(path), oneLine(err.Error()))
		return 2
	}
	return 0
}

// frameRef renders a frame number (from 1, as Wireshark shows it), or "-"
// when absent (0).
func frameRef(n int) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// runHostRole runs a host-role replay and returns the exit status: 0, 1
// for an output error, 2 for a bad or truncated capture or bad flags.
func runHostRole(stdout, stderr io.Writer, path string, o *replayOpts) int {
	as, err := netip.ParseAddr(o.as)
	if err != nil || as.IsUnspecified() || as.IsMulticast() {
		fmt.Fprintf(stderr, "simnet replay: --as %s: not a unicast IPv4 or IPv6 address\n", oneLine(o.as))
		return 2
	}
	if o.out == "" {
		fmt.Fprintln(stderr, "simnet replay: --as needs --out DIR")
		return 2
	}
	if err := checkOutDir(o.out, o.force); err != nil {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	cfg := hostrole.Config{As: as.Unmap(), OutDir: o.out, EchoPort: o.echo, HTTPPort: o.http, DNSPort: o.dns,
		WindowTolerance: o.tolerance, LearnServices: o.learn}
	if o.httpRoot != "" {
		// An os.Root: neither ".." nor a symlink leaves the directory.
		root, err := os.OpenRoot(o.httpRoot)
		if err != nil {
			fmt.Fprintf(stderr, "simnet replay: --http-root: %s\n", oneLine(err.Error()))
			return 2
		}
		defer root.Close()
		cfg.HTTPRoot = root.FS()
	}
	if o.zone != "" && o.dns == 0 {
		z, err := readZone(o.zone, o.zoneOrigin)
		if err != nil {
			fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
			return 2
		}
		cfg.Zones = append(cfg.Zones, z)
	}
	if o.dns != 0 {
		if o.zone == "" {
			fmt.Fprintln(stderr, "simnet replay: --dns needs --zone FILE")
			return 2
		}
		z, err := readZone(o.zone, o.zoneOrigin)
		if err != nil {
			fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
			return 2
		}
		for _, w := range z.Warnings {
			fmt.Fprintf(stderr, "simnet replay: warning: %s\n", w)
		}
		cfg.Zones = append(cfg.Zones, z)
	}
	return replayHostRole(stdout, stderr, fileCapture(path), o, cfg)
}

// replayHostRole is runHostRole once cfg is built from the flags o: it
// replays c, writes the outputs and returns the exit status.
func replayHostRole(stdout, stderr io.Writer, c capture, o *replayOpts, cfg hostrole.Config) int {
	path := c.name
	res, err := hostrole.RunOpen(c.name, c.open, cfg)
	var te *input.TruncatedError
	if res == nil || (err != nil && !errors.As(err, &te)) {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(err.Error()))
		return 2
	}
	if te == nil {
		// Which services ran, and which ports the host served that got
		// no server (on stderr: stdout holds the comparison).
		for _, u := range res.Services {
			if u.Served {
				fmt.Fprintf(stderr, "simnet replay: serving %s\n", u)
			} else {
				fmt.Fprintf(stderr, "simnet replay: %s\n", u)
			}
		}
		for _, d := range res.Profile.DHCP {
			if o.learn {
				fmt.Fprintf(stderr, "simnet replay: dhcp server learnt from %d offers and %d acks: %s\n", d.Offers, d.Acks, d)
			}
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := hostRoleJSON{Frames: res.Stats.Frames, Differences: res.Report.Total(), Causes: res.Report.Causes, Result: res}
		if werr := enc.Encode(out); werr != nil {
			fmt.Fprintf(stderr, "simnet replay: write report: %v\n", werr)
			return 1
		}
	} else {
		p := res.Profile
		fmt.Fprintf(stdout, "host %s mac %s prefix %s", p.Addr, p.MAC, p.Prefix)
		if p.Gateway.IsValid() {
			fmt.Fprintf(stdout, " gateway %s", p.Gateway)
		}
		fmt.Fprintf(stdout, "; %d frames, %d fed, %d recorded replies, %d sent by simnet\n",
			res.Stats.Frames, res.Stats.Delivered, res.Stats.Recorded, res.Stats.Sent)
		if werr := res.Report.WriteSummary(stdout, 10); werr != nil {
			fmt.Fprintf(stderr, "simnet replay: write report: %v\n", werr)
			return 1
		}
		fmt.Fprintf(stdout, "outputs in %s\n", o.out)
	}
	if te != nil {
		fmt.Fprintf(stderr, "simnet replay: %s: %s\n", oneLine(path), oneLine(te.Error()))
		return 2
	}
	return 0
}

// hostRoleJSON is the --json output of a host-role replay: the frame and
// difference totals and the causes first, then the whole result.
type hostRoleJSON struct {
	Frames      int          `json:"frames"`
	Differences int          `json:"differences"`
	Causes      []diff.Cause `json:"causes"`
	*hostrole.Result
}

// readZone parses the master file at path.
func readZone(path, origin string) (*dns.Zone, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zone: %w", err)
	}
	defer f.Close()
	z, err := dns.ParseZone(f, origin, path)
	// The parser's errors name the file.
	if errors.Is(err, dns.ErrNoOrigin) {
		return nil, fmt.Errorf("zone: %w; give --zone-origin NAME", err)
	}
	if err != nil {
		return nil, fmt.Errorf("zone: %w", err)
	}
	return z, nil
}
