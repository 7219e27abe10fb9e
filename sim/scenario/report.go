package scenario

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/app/traceroute"
	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// Report is the outcome of a run, written as report.json. It holds only
// structs and slices, so its JSON encoding is stable byte for byte.
//
// report.json has one naming style and one time convention: keys are
// snake_case, and every time is an integer number of nanoseconds in a key
// ending in _ns, an instant (start_ns, end_ns, at_ns, bound_at_ns) counted
// from the start of the run. docs/schema/report.schema.json describes it.
type Report struct {
	Scenario string `json:"scenario"`
	Seed     uint64 `json:"seed"`
	// Duration is the scenario's duration as text (e.g. "30s"); DurationNs
	// the same in nanoseconds, as report.json carries every time.
	Duration   string        `json:"-"`
	DurationNs time.Duration `json:"duration_ns"`
	// Interrupted is true when the run was stopped (SIGINT/SIGTERM)
	// before Duration; Simulated is the simulated time reached, in
	// nanoseconds from the run's start (Duration when not interrupted).
	Interrupted bool          `json:"interrupted"`
	Simulated   time.Duration `json:"simulated_ns"`
	// Passed is true when every expectation passed.
	Passed bool `json:"passed"`
	// Captures lists the hosts' capture files, relative to the output
	// directory.
	Captures []string `json:"captures"`
	// SwitchCaptures lists the switches' capture files (one interface per
	// port), relative to the output directory.
	SwitchCaptures []string          `json:"switch_captures"`
	Links          []LinkReport      `json:"links"`
	Switches       []sim.SwitchStats `json:"switches"`
	Hosts          []HostReport      `json:"hosts"`
	Apps           []AppReport       `json:"apps"`
	// Groups aggregates the apps that ran on every member of a host group.
	Groups       []GroupReport  `json:"groups,omitempty"`
	Expectations []ExpectResult `json:"expectations"`
	// Timeline lists leases, answers and completions in time order.
	Timeline []TimelineEvent `json:"timeline"`
	// Flows is the per-flow table (Options.Flows), flows in the order
	// they were first seen.
	Flows []FlowReport `json:"flows,omitempty"`
	// Series holds the time series when Options.Series was set (written
	// as CSV by Series.WriteCSV, not in report.json).
	Series *Series `json:"-"`
}

// LinkReport is what one link did, per direction.
type LinkReport struct {
	Name string          `json:"name"`
	A    string          `json:"a"`
	B    string          `json:"b"`
	AtoB impair.Counters `json:"a_to_b"`
	BtoA impair.Counters `json:"b_to_a"`
}

// HostReport is what one host's stack counted.
type HostReport struct {
	Name string `json:"name"`
	// IP is the host's frame, ARP, IP, ICMP and UDP counters.
	IP stack.Stats `json:"ip"`
	// TCP is the host's TCP counters.
	TCP tcp.StackStats `json:"tcp"`
	// DHCP is the lease state of each interface configured by DHCP.
	DHCP []LeaseReport `json:"dhcp,omitempty"`
	// DHCPRelay counts what the host's DHCP relay agent passed on.
	DHCPRelay *dhcpstack.RelayStats `json:"dhcp_relay,omitempty"`
	// Crashes counts the host's crash events; after a restart its counters
	// are those of its latest boot.
	Crashes int `json:"crashes,omitempty"`
}

// AppReport is one app's result.
type AppReport struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Host string `json:"host"`
	// Group is, for a member of an app on a host group, the app's name
	// as written.
	Group string `json:"group,omitempty"`
	// Error is set when the app could not start.
	Error string `json:"error,omitempty"`
	// Result is the app's own result struct (ping.Result, udpapp.SinkResult,
	// udpapp.SendResult).
	Result any `json:"result"`
	// Intervals is the goodput per reporting interval of an app with an
	// interval (tcp_send, tcp_recv, udp_sink).
	Intervals []Interval `json:"intervals,omitempty"`
}

// ExpectResult is the verdict on one condition of an expectation.
type ExpectResult struct {
	App string `json:"app"`
	// Condition is the condition as written, e.g. "min_replies: 15".
	Condition string `json:"condition"`
	Passed    bool   `json:"passed"`
	// Message says what was measured.
	Message string `json:"message"`
	// Line is the expectation's line in the scenario file.
	Line int `json:"line"`
}

// String renders r as one line, e.g. "PASS ping1 min_replies: 15 (got 18)".
func (r ExpectResult) String() string {
	v := "FAIL"
	if r.Passed {
		v = "PASS"
	}
	return fmt.Sprintf("%s %s %s (%s)", v, r.App, r.Condition, r.Message)
}

// Failed returns the expectations that failed.
func (r *Report) Failed() []ExpectResult {
	var out []ExpectResult
	for _, e := range r.Expectations {
		if !e.Passed {
			out = append(out, e)
		}
	}
	return out
}

// writeExpectations writes one line per verdict, except for the members
// of a large group: one line per group app and condition, naming the first
// members that failed.
func (r *Report) writeExpectations(b *strings.Builder, members map[string]int) {
	group := map[string]string{} // member app -> group app of a large group
	for _, a := range r.Apps {
		if members[a.Group] > maxSummaryMembers {
			group[a.Name] = a.Group
		}
	}
	type agg struct {
		app, cond     string
		passed, total int
		failed        []string
	}
	var aggs []*agg
	byKey := map[[2]string]*agg{}
	for _, e := range r.Expectations {
		g, ok := group[e.App]
		if !ok {
			fmt.Fprintf(b, "  %s\n", e)
			continue
		}
		k := [2]string{g, e.Condition}
		a := byKey[k]
		if a == nil {
			a = &agg{app: g, cond: e.Condition}
			byKey[k] = a
			aggs = append(aggs, a)
		}
		a.total++
		if e.Passed {
			a.passed++
		} else if len(a.failed) < 3 {
			a.failed = append(a.failed, e.App+": "+e.Message)
		}
	}
	for _, a := range aggs {
		v := "PASS"
		if a.passed < a.total {
			v = "FAIL"
		}
		fmt.Fprintf(b, "  %s %s %s (%d of %d members passed)\n", v, a.app, a.cond, a.passed, a.total)
		for _, f := range a.failed {
			fmt.Fprintf(b, "      %s\n", f)
		}
	}
}

// maxSummaryMembers is the largest group whose members' apps the summary
// lists one by one.
const maxSummaryMembers = 10

// WriteSummary writes a short human summary of r: one line per link
// direction, per app and per expectation.
func (r *Report) WriteSummary(w io.Writer) error {
	var b strings.Builder
	if r.Interrupted {
		fmt.Fprintf(&b, "scenario %s, seed %d, INTERRUPTED after %v of %s simulated\n", r.Scenario, r.Seed, r.Simulated, r.Duration)
	} else {
		fmt.Fprintf(&b, "scenario %s, seed %d, %s simulated\n", r.Scenario, r.Seed, r.Duration)
	}
	b.WriteString("links:\n")
	for _, l := range r.Links {
		dir := func(from, to string, c impair.Counters) {
			fmt.Fprintf(&b, "  %-12s %s -> %s: offered %d, delivered %d, dropped %d, duplicated %d, corrupted %d, reordered %d\n",
				l.Name, from, to, c.Offered, c.Delivered, c.Dropped, c.Duplicated, c.Corrupted, c.Reordered)
			if q := qdiscSummary(c.Qdisc); q != "" {
				fmt.Fprintf(&b, "  %-12s   queue %s\n", "", q)
			}
		}
		dir(l.A, l.B, l.AtoB)
		dir(l.B, l.A, l.BtoA)
	}
	b.WriteString("apps:\n")
	members := map[string]int{}
	for _, g := range r.Groups {
		members[g.App] = g.Members
	}
	for _, a := range r.Apps {
		if members[a.Group] > maxSummaryMembers {
			continue // the group's line stands for them
		}
		fmt.Fprintf(&b, "  %-12s %-8s on %s: %s\n", a.Name, a.Type, a.Host, appSummary(a))
		writeIntervals(&b, a.Intervals)
	}
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "  %-12s %-8s on group %s: %s\n", g.App, g.Type, g.Host, g.summary())
	}
	if len(r.Timeline) > 0 {
		b.WriteString("timeline:\n")
		for _, e := range r.Timeline {
			fmt.Fprintf(&b, "  t=%-12s %-8s %s\n", e.At, e.Host, e.What)
		}
	}
	if len(r.Expectations) > 0 {
		b.WriteString("expectations:\n")
		r.writeExpectations(&b, members)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func appSummary(a AppReport) string {
	if a.Error != "" {
		return "error: " + a.Error
	}
	switch r := a.Result.(type) {
	case ping.Result:
		return pingSummary(r)
	case udpapp.SendResult:
		return fmt.Sprintf("%d sent (%d bytes), %d errors", r.Sent, r.Bytes, r.Errors)
	case udpapp.SinkResult:
		return fmt.Sprintf("%d datagrams (%d bytes), %d duplicates, %d out of order, %d invalid",
			r.Datagrams, r.Bytes, r.Duplicates, r.OutOfOrder, r.Invalid)
	case tcpapps.ServerStats:
		return fmt.Sprintf("%d connections accepted, %d bytes", r.Accepted, r.Bytes)
	case traceroute.Result:
		return tracerouteSummary(r)
	case tcpapps.BulkResult:
		s := fmt.Sprintf("%d bytes in %v (%.0f bit/s), verified %t, %d retransmissions",
			r.Bytes, r.Duration, r.Goodput, r.Verified, r.TCP.Retransmits)
		if r.Error != "" {
			s += ", error: " + r.Error
		}
		return s
	default:
		if s, ok := serviceSummary(r); ok {
			return s
		}
		return fmt.Sprintf("%+v", r)
	}
}

// pingSummary describes a ping result: round-trip times only when there
// were replies, and the host's errors when it refused to send.
func pingSummary(r ping.Result) string {
	var s string
	switch {
	case r.Sent == 0:
		s = "nothing sent"
	case r.Received == 0:
		s = fmt.Sprintf("%d sent, no replies, %.1f%% loss", r.Sent, r.LossPercent)
	default:
		s = fmt.Sprintf("%d sent, %d received, %.1f%% loss, rtt min/avg/max %.3f/%.3f/%.3f ms",
			r.Sent, r.Received, r.LossPercent, r.RTTMinMs, r.RTTAvgMs, r.RTTMaxMs)
	}
	return s + pingErrors(r)
}

// pingErrors says how many requests the host refused to send and why, or
// nothing when it sent them all.
func pingErrors(r ping.Result) string {
	if r.Errors == 0 {
		return ""
	}
	return fmt.Sprintf("; %d not sent: %s", r.Errors, r.LastError)
}

// evaluate checks e against the result of the app it names.
func evaluate(e Expectation, a AppReport) []ExpectResult {
	var out []ExpectResult
	add := func(cond string, pass bool, format string, args ...any) {
		out = append(out, ExpectResult{App: e.App, Condition: cond, Passed: pass, Message: fmt.Sprintf(format, args...), Line: e.Line})
	}
	if a.Error != "" {
		for _, c := range e.criteria() {
			add(c.name, false, "app did not run: %s", a.Error)
		}
		return out
	}
	evaluateService(e, a.Result, add)
	evaluateRouting(e, a.Result, add)
	switch r := a.Result.(type) {
	case ping.Result:
		if e.MinReplies != nil {
			add(fmt.Sprintf("min_replies: %d", *e.MinReplies), r.Received >= *e.MinReplies,
				"got %d replies to %d requests%s", r.Received, r.Sent, pingErrors(r))
		}
		if e.MaxLoss != nil {
			pass := r.Sent > 0 && r.LossPercent <= *e.MaxLoss*100+1e-9
			switch {
			case r.Sent == 0:
				add(fmt.Sprintf("max_loss: %g%%", *e.MaxLoss*100), pass, "no requests sent, so no loss to measure%s", pingErrors(r))
			case r.Received == 0:
				add(fmt.Sprintf("max_loss: %g%%", *e.MaxLoss*100), pass, "no replies: %.1f%% loss (%d of %d unanswered)%s",
					r.LossPercent, r.Sent, r.Sent, pingErrors(r))
			default:
				add(fmt.Sprintf("max_loss: %g%%", *e.MaxLoss*100), pass, "%.1f%% loss (%d of %d unanswered)%s",
					r.LossPercent, r.Sent-r.Received, r.Sent, pingErrors(r))
			}
		}
		avg := time.Duration(r.RTTAvgMs * float64(time.Millisecond))
		if e.MinRTTAvg != nil {
			add(fmt.Sprintf("min_rtt_avg: %v", *e.MinRTTAvg), r.Received > 0 && avg >= *e.MinRTTAvg,
				"average rtt %.3f ms over %d replies", r.RTTAvgMs, r.Received)
		}
		if e.MaxRTTAvg != nil {
			add(fmt.Sprintf("max_rtt_avg: %v", *e.MaxRTTAvg), r.Received > 0 && avg <= *e.MaxRTTAvg,
				"average rtt %.3f ms over %d replies", r.RTTAvgMs, r.Received)
		}
	case udpapp.SinkResult:
		if e.MinDatagrams != nil {
			add(fmt.Sprintf("min_datagrams: %d", *e.MinDatagrams), r.Datagrams >= *e.MinDatagrams,
				"got %d distinct datagrams", r.Datagrams)
		}
		if e.BytesVerified != nil {
			add(fmt.Sprintf("bytes_verified: %t", *e.BytesVerified), r.BytesVerified == *e.BytesVerified,
				"%d datagrams received, %d with unexpected contents", r.Received, r.Invalid)
		}
	case tcpapps.BulkResult:
		if e.BytesVerified != nil {
			msg := fmt.Sprintf("%d bytes, verified %t", r.Bytes, r.Verified)
			if r.Error != "" {
				msg += ", error: " + r.Error
			}
			add(fmt.Sprintf("bytes_verified: %t", *e.BytesVerified), r.Verified == *e.BytesVerified, "%s", msg)
		}
		if e.MinBytes != nil {
			add(fmt.Sprintf("min_bytes: %d", *e.MinBytes), r.Bytes >= *e.MinBytes, "moved %d bytes", r.Bytes)
		}
	}
	return out
}

// Config converts im to the impairment stage's configuration for a link
// with the given MTU.
func (im Impair) Config(mtu int) impair.Config {
	c := impair.Config{
		Loss:         im.Loss,
		Delay:        im.Delay,
		Jitter:       im.Jitter,
		Reorder:      im.Reorder,
		ReorderDelay: im.ReorderDelay,
		Duplicate:    im.Duplicate,
		Corrupt:      im.Corrupt,
		Rate:         im.Rate,
		QueueBytes:   im.Queue.Bytes,
		QueuePackets: im.Queue.Packets,
		MTU:          mtu,
		Params:       im.Qdisc,
		JitterDist:   im.JitterDist,
		KeepOrder:    im.KeepOrder,
	}
	if im.Reorder > 0 && c.ReorderDelay == 0 {
		c.ReorderDelay = DefaultReorderDelay
	}
	if g := im.Gilbert; g != nil {
		c.Burst = impair.GilbertElliott{P: g.P, R: g.R, LossGood: g.LossGood, LossBad: g.LossBad}
	}
	return c
}
