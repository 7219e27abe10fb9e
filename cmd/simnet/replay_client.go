package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/replay/clientrole"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/input"
)

// clientRoleOpts are the flags of a live client-role replay.
type clientRoleOpts struct {
	asClient    string
	server      string
	stepTimeout time.Duration
}

// parseClientAddr parses ADDR or ADDR/BITS (default /24).
func parseClientAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("--as-client %s: not an IPv4 address or address/bits", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Unmap().Is4() {
		return netip.Prefix{}, fmt.Errorf("--as-client %s: not an IPv4 address or address/bits", s)
	}
	return netip.PrefixFrom(a.Unmap(), 24), nil
}

// runClientRole replays the recorded client of a TCP flow against a live
// server and returns the exit status: 0, 1 when the replay failed on the
// way (the server refused, the tap broke), 2 for bad input or flags.
func runClientRole(ctx context.Context, stdout, stderr io.Writer, path string, o *replayOpts) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "simnet replay: %s\n", oneLine(fmt.Sprintf(format, args...)))
		return code
	}
	client, err := parseClientAddr(o.client.asClient)
	if err != nil {
		return fail(2, "%v", err)
	}
	server, err := netip.ParseAddrPort(o.client.server)
	if err != nil || !server.Addr().Unmap().Is4() || server.Port() == 0 {
		return fail(2, "--server %s: not an IPv4 ADDR:PORT", o.client.server)
	}
	if o.toTap == "" {
		return fail(2, "--as-client needs --to-tap TAP")
	}
	if o.out != "" {
		if err := checkOutDir(o.out, o.force); err != nil {
			return fail(2, "%v", err)
		}
	}
	r, err := input.Open(path)
	if err != nil {
		return fail(2, "%v", err)
	}
	script, err := clientrole.Extract(r, client.Addr(), server.Port())
	_ = r.Close()
	if err != nil {
		return fail(2, "%s: %v", path, err)
	}
	res, err := clientrole.Run(ctx, script, clientrole.Config{Client: client, Server: server, Tap: o.toTap, OutDir: o.out,
		StepTimeout: o.client.stepTimeout})
	if err != nil {
		code := 1
		if errors.Is(err, tap.ErrNotFound) || errors.Is(err, tap.ErrNotTap) {
			code = 2
		}
		return fail(code, "%v", err)
	}
	if o.asJSON {
		out := struct {
			Frames      int          `json:"frames"`
			Differences int          `json:"differences"`
			Causes      []diff.Cause `json:"causes"`
			*clientrole.Result
		}{res.TapFrames, res.Report.Total(), res.Report.Causes, res}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fail(1, "write report: %v", err)
		}
		return 0
	}
	if err := res.WriteSummary(stdout); err != nil {
		return fail(1, "write report: %v", err)
	}
	return 0
}
