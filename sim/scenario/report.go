package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// Report is the outcome of a run, written as report.json. It holds only
// structs and slices, so its JSON encoding is stable byte for byte.
type Report struct {
	Scenario string `json:"scenario"`
	Seed     uint64 `json:"seed"`
	Duration string `json:"duration"`
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
	Expectations   []ExpectResult    `json:"expectations"`
	// Timeline lists leases, answers and completions in time order.
	Timeline []TimelineEvent `json:"timeline"`
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
}

// AppReport is one app's result.
type AppReport struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Host string `json:"host"`
	// Error is set when the app could not start.
	Error string `json:"error,omitempty"`
	// Result is the app's own result struct (ping.Result, udpapp.SinkResult,
	// udpapp.SendResult).
	Result any `json:"result"`
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

// WriteJSON writes r as indented JSON with a trailing newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteSummary writes a short human summary of r: one line per link
// direction, per app and per expectation.
func (r *Report) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s, seed %d, %s simulated\n", r.Scenario, r.Seed, r.Duration)
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
	for _, a := range r.Apps {
		fmt.Fprintf(&b, "  %-12s %-8s on %s: %s\n", a.Name, a.Type, a.Host, appSummary(a))
	}
	if len(r.Timeline) > 0 {
		b.WriteString("timeline:\n")
		for _, e := range r.Timeline {
			fmt.Fprintf(&b, "  t=%-12s %-8s %s\n", e.At, e.Host, e.What)
		}
	}
	if len(r.Expectations) > 0 {
		b.WriteString("expectations:\n")
		for _, e := range r.Expectations {
			fmt.Fprintf(&b, "  %s\n", e)
		}
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
		return fmt.Sprintf("%d sent, %d received, %.1f%% loss, rtt min/avg/max %.3f/%.3f/%.3f ms",
			r.Sent, r.Received, r.LossPercent, r.RTTMinMs, r.RTTAvgMs, r.RTTMaxMs)
	case udpapp.SendResult:
		return fmt.Sprintf("%d sent (%d bytes), %d errors", r.Sent, r.Bytes, r.Errors)
	case udpapp.SinkResult:
		return fmt.Sprintf("%d datagrams (%d bytes), %d duplicates, %d out of order, %d invalid",
			r.Datagrams, r.Bytes, r.Duplicates, r.OutOfOrder, r.Invalid)
	case tcpapps.ServerStats:
		return fmt.Sprintf("%d connections accepted, %d bytes", r.Accepted, r.Bytes)
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
	switch r := a.Result.(type) {
	case ping.Result:
		if e.MinReplies != nil {
			add(fmt.Sprintf("min_replies: %d", *e.MinReplies), r.Received >= *e.MinReplies,
				"got %d replies to %d requests", r.Received, r.Sent)
		}
		if e.MaxLoss != nil {
			add(fmt.Sprintf("max_loss: %g%%", *e.MaxLoss*100), r.Sent > 0 && r.LossPercent <= *e.MaxLoss*100+1e-9,
				"%.1f%% loss (%d of %d unanswered)", r.LossPercent, r.Sent-r.Received, r.Sent)
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
	}
	if im.Reorder > 0 && c.ReorderDelay == 0 {
		c.ReorderDelay = DefaultReorderDelay
	}
	if g := im.Gilbert; g != nil {
		c.Burst = impair.GilbertElliott{P: g.P, R: g.R, LossGood: g.LossGood, LossBad: g.LossBad}
	}
	return c
}
