// Package diff compares what a host sent in a recorded capture with what
// simnet's stack sent when it replayed that host's role, flow by flow, and
// reports where they depart: a segment recorded but not sent (missing), sent
// but not recorded (extra), or sent with different flags, acknowledgement,
// payload, window (beyond a tolerance) or options.
//
// The comparison is on values that do not depend on the stack's own random
// choices: sequence and acknowledgement numbers are relative to each side's
// initial sequence number, and the producer leaves out IP IDs, timestamp
// values and checksums. Segments are paired by their identity (relative
// sequence number, length, SYN/FIN/RST) in order, looking ahead a bounded
// distance, so one missing or extra segment does not shift every later
// pairing.
package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/simnet-go/simnet/replay/jsontime"
	"io"
	"strconv"
	"strings"
)

// Proto is the transport protocol of a flow.
type Proto string

// The transports compared.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
	// ICMP and ARP flows hold the ICMP messages and ARP packets the host
	// sent, compared by Segment.Label.
	ICMP Proto = "icmp"
	ARP  Proto = "arp"
)

// TCP flag bits, as in the header's flags byte.
const (
	FlagFIN uint8 = 0x01
	FlagSYN uint8 = 0x02
	FlagRST uint8 = 0x04
	FlagPSH uint8 = 0x08
	FlagACK uint8 = 0x10
	FlagURG uint8 = 0x20
)

// identityFlags are the flags that make a segment a different segment, not
// the same segment with other flags.
const identityFlags = FlagSYN | FlagFIN | FlagRST

// Lookahead is how many segments ahead the pairing searches for a match.
const Lookahead = 32

// Segment is one segment (or datagram) a host sent.
type Segment struct {
	// Frame is the frame's 1-based number in its capture (the input
	// capture for recorded segments, the replay output for ours).
	Frame int `json:"frame"`
	// Time is the capture timestamp, in RFC 3339 form for any year.
	Time jsontime.Time `json:"time"`
	// Seq is the sequence number relative to the sender's initial sequence
	// number; Ack the acknowledgement number relative to the peer's.
	Seq uint32 `json:"seq"`
	Ack uint32 `json:"ack"`
	// Flags is the TCP flags byte.
	Flags uint8 `json:"flags"`
	// Len is the payload length.
	Len int `json:"len"`
	// Sum is a hash of the payload.
	Sum uint64 `json:"sum"`
	// Window is the advertised receive window in bytes (scaled).
	Window uint32 `json:"window"`
	// Options names the TCP options, without timestamp values or SACK
	// block edges (such as "mss=1460,sackOK,ts,ws=7").
	Options string `json:"options,omitempty"`
	// Label identifies an ICMP message or ARP packet (such as "port
	// unreachable for udp 192.0.2.1:68"): ICMP and ARP flows pair by it.
	Label string `json:"label,omitempty"`
	// Data is the datagram's payload (UDP), kept to name the fields in
	// which two DNS or DHCP messages differ; not written out.
	Data []byte `json:"-"`
}

// String renders the segment as "seq=1 ack=1 len=5 [PA] win=65535".
func (s Segment) String() string {
	return fmt.Sprintf("seq=%d ack=%d len=%d [%s] win=%d", s.Seq, s.Ack, s.Len, FlagString(s.Flags), s.Window)
}

// FlagString renders TCP flags as tcpdump does (S, F, R, P, ., U).
func FlagString(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagRST, 'R'}, {FlagPSH, 'P'}, {FlagURG, 'U'}, {FlagACK, '.'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Flow is one conversation of the host with a peer: the segments the
// recorded host sent and those our stack sent, each in sending order.
type Flow struct {
	// Name identifies the flow, such as "tcp 192.0.2.1:7 <-> 192.0.2.9:40000".
	Name  string
	Proto Proto
	// Recorded and Ours are the segments sent by the host in the capture
	// and by our stack.
	Recorded, Ours []Segment
	// Note, when not empty, says why the flow was not replayed faithfully
	// (for example, the host was the client).
	Note string
	// RecordedStream and OurStream, when both are set, are the bytes each
	// side sent (TCP): their first difference is reported once, as a
	// Stream difference, with the length of their common suffix.
	RecordedStream, OurStream []byte
	// Port is the host's port (UDP): 53 and 67/68 compare the datagrams
	// as DNS and DHCP messages, field by field.
	Port uint16
	// OmitIfEqual leaves the flow out of the report when it shows no
	// difference (the host's ICMP and ARP).
	OmitIfEqual bool
}

// Kind is a kind of difference.
type Kind string

// The kinds of difference.
const (
	// Missing: a segment the recorded host sent that ours did not.
	Missing Kind = "missing"
	// Extra: a segment ours sent that the recorded host did not.
	Extra Kind = "extra"
	// Flags: the same segment with other flags (ACK, PSH, URG).
	Flags Kind = "flags"
	// Ack: the same segment acknowledging a different sequence number.
	Ack Kind = "ack"
	// Payload: the same sequence range with different bytes.
	Payload Kind = "payload"
	// Window: advertised windows further apart than the tolerance.
	Window Kind = "window"
	// Options: different TCP options.
	Options Kind = "options"
	// Stream: the byte streams differ (reported once per flow).
	Stream Kind = "stream"
	// Retransmission: a data segment only one side sent, covering bytes
	// that side had already sent (a retransmission the other side did not
	// need, or did at another moment or with other boundaries).
	Retransmission Kind = "retransmission"
)

// Kinds lists every kind in report order.
var Kinds = []Kind{Stream, Missing, Extra, Retransmission, Flags, Ack, Payload, Window, Options}

// Difference is one place where our stack departed from the recording.
type Difference struct {
	Kind Kind `json:"kind"`
	// Recorded and Ours are the segments involved (nil when absent).
	Recorded *Segment `json:"recorded,omitempty"`
	Ours     *Segment `json:"ours,omitempty"`
	// Detail says what differs, in words.
	Detail string `json:"detail"`
	// Fields names the DNS or DHCP fields in which two datagrams differ.
	Fields []string `json:"fields,omitempty"`
}

// Config tunes the comparison.
type Config struct {
	// WindowTolerance is the largest window difference, in bytes, that is
	// not reported.
	WindowTolerance uint32
	// MaxDifferences bounds the differences listed per flow (all are
	// counted); 0 means 1000.
	MaxDifferences int
}

// FlowReport is the comparison of one flow.
type FlowReport struct {
	Flow     string `json:"flow"`
	Proto    Proto  `json:"proto"`
	Note     string `json:"note,omitempty"`
	Recorded int    `json:"recorded_segments"`
	Ours     int    `json:"our_segments"`
	Matched  int    `json:"matched"`
	// Counts holds the number of differences by kind.
	Counts map[Kind]int `json:"counts"`
	// Differences lists them in order (at most Config.MaxDifferences).
	Differences []Difference `json:"differences"`
	// Omitted counts differences left out of the list.
	Omitted int `json:"omitted,omitempty"`
	// Stream describes how the byte streams differ (nil when they are
	// equal or were not compared).
	Stream *StreamDiff `json:"stream,omitempty"`
	// StreamsIdentical is set when the byte streams were compared, are
	// not empty, and are equal: whatever else differs is segmentation,
	// acknowledgement or window policy, not content.
	StreamsIdentical bool `json:"streams_identical,omitempty"`
}

// StreamDiff is where two byte streams part.
type StreamDiff struct {
	// Offset is the first byte that differs (or the end of the shorter).
	Offset int `json:"offset"`
	// RecordedLen and OursLen are the stream lengths.
	RecordedLen int `json:"recorded_len"`
	OursLen     int `json:"ours_len"`
	// CommonSuffix is the length of the longest common suffix: a response
	// whose head differs but whose body is the same has its body here.
	CommonSuffix int `json:"common_suffix"`
	// Recorded and Ours quote up to 32 bytes from Offset.
	Recorded string `json:"recorded"`
	Ours     string `json:"ours"`
}

// compareStreams returns where a and b part, or nil when they are equal.
func compareStreams(a, b []byte) *StreamDiff {
	if bytes.Equal(a, b) {
		return nil
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	j := 0
	for j < len(a)-i && j < len(b)-i && a[len(a)-1-j] == b[len(b)-1-j] {
		j++
	}
	quote := func(s []byte) string {
		s = s[i:]
		if len(s) > 32 {
			s = s[:32]
		}
		return strconv.Quote(string(s))
	}
	return &StreamDiff{Offset: i, RecordedLen: len(a), OursLen: len(b), CommonSuffix: j, Recorded: quote(a), Ours: quote(b)}
}

// Total returns the number of differences in the flow.
func (f *FlowReport) Total() int {
	n := 0
	for _, c := range f.Counts {
		n += c
	}
	return n
}

// Report is the comparison of every flow.
type Report struct {
	// Partial, when not empty, says that the report covers only part of
	// the input (a capture cut off after its last complete frame) and why.
	Partial string       `json:"partial,omitempty"`
	Flows   []FlowReport `json:"flows"`
	// Totals counts differences by kind over all flows.
	Totals map[Kind]int `json:"totals"`
	// Causes groups the differences by what caused them, flow by flow.
	Causes []Cause `json:"causes"`
}

// Empty reports whether no flow has any difference.
func (r *Report) Empty() bool { return r.Total() == 0 }

// Total returns the number of differences over all flows.
func (r *Report) Total() int {
	n := 0
	for _, c := range r.Totals {
		n += c
	}
	return n
}

// KindsSeen returns the kinds with at least one difference, in Kinds
// order.
func (r *Report) KindsSeen() []Kind {
	var out []Kind
	for _, k := range Kinds {
		if r.Totals[k] > 0 {
			out = append(out, k)
		}
	}
	return out
}

// Compare compares every flow, in the order given.
func Compare(flows []Flow, cfg Config) *Report {
	if cfg.MaxDifferences <= 0 {
		cfg.MaxDifferences = 1000
	}
	r := &Report{Flows: make([]FlowReport, 0, len(flows)), Totals: make(map[Kind]int), Causes: []Cause{}}
	for i := range flows {
		fr, causes := compareFlow(&flows[i], cfg)
		if flows[i].OmitIfEqual && fr.Total() == 0 {
			continue
		}
		r.Causes = append(r.Causes, causes...)
		for k, n := range fr.Counts {
			r.Totals[k] += n
		}
		r.Flows = append(r.Flows, fr)
	}
	return r
}

type flowCmp struct {
	cfg Config
	fr  *FlowReport
	ex  *explainer
	// shiftFrom and delta pair segments by stream position past a head
	// that differs in length: a recorded segment at or after sequence
	// number shiftFrom (the recorded stream's common suffix) pairs with
	// ours delta bytes later (see shifted).
	shiftFrom uint32
	delta     int64
	shifting  bool
}

// shifted reports whether ours is rec moved by the difference in length of
// the streams' heads: the same bytes of the common suffix (or the FIN or
// ACK after them) at the position they take in our stream.
func (c *flowCmp) shifted(rec, ours *Segment) bool {
	return c.shifting && rec.Seq >= c.shiftFrom && int64(ours.Seq) == int64(rec.Seq)+c.delta &&
		rec.Len == ours.Len && rec.Flags&identityFlags == ours.Flags&identityFlags
}

func (c *flowCmp) add(k Kind, rec, ours *Segment, detail string) {
	c.addFields(k, rec, ours, detail, nil)
}

func (c *flowCmp) addFields(k Kind, rec, ours *Segment, detail string, fields []string) {
	c.fr.Counts[k]++
	c.ex.note(k, rec, ours, detail, fields)
	if len(c.fr.Differences) >= c.cfg.MaxDifferences {
		c.fr.Omitted++
		return
	}
	d := Difference{Kind: k, Detail: detail, Fields: fields}
	if rec != nil {
		s := *rec
		d.Recorded = &s
	}
	if ours != nil {
		s := *ours
		d.Ours = &s
	}
	c.fr.Differences = append(c.fr.Differences, d)
}

func compareFlow(f *Flow, cfg Config) (FlowReport, []Cause) {
	fr := FlowReport{Flow: f.Name, Proto: f.Proto, Note: f.Note, Recorded: len(f.Recorded), Ours: len(f.Ours),
		Counts: make(map[Kind]int), Differences: []Difference{}}
	c := &flowCmp{cfg: cfg, fr: &fr, ex: newExplainer(f)}
	fr2, causes := c.run(f)
	return fr2, causes
}

// run compares the flow and returns its report and causes.
func (c *flowCmp) run(f *Flow) (FlowReport, []Cause) {
	fr := c.fr
	if f.RecordedStream != nil || f.OurStream != nil {
		sd := compareStreams(f.RecordedStream, f.OurStream)
		fr.StreamsIdentical = sd == nil && len(f.RecordedStream) > 0
		if sd != nil {
			fr.Stream = sd
			c.ex.stream = sd
			if sd.CommonSuffix > 0 && sd.OursLen != sd.RecordedLen {
				// Stream offset o is sequence number o+1.
				c.shifting = true
				c.shiftFrom = uint32(sd.RecordedLen-sd.CommonSuffix) + 1
				c.delta = int64(sd.OursLen - sd.RecordedLen)
			}
			c.add(Stream, nil, nil, fmt.Sprintf("byte streams part at offset %d (%d bytes recorded, %d sent, common suffix %d): %s recorded, %s sent",
				sd.Offset, sd.RecordedLen, sd.OursLen, sd.CommonSuffix, sd.Recorded, sd.Ours))
		}
	}
	switch f.Proto {
	case UDP:
		compareDatagrams(c, f)
		return *fr, c.ex.causes()
	case ICMP, ARP:
		compareLabelled(c, f)
		return *fr, c.ex.causes()
	}
	j := 0
	var recEnd, oursEnd uint32 // highest sequence number sent so far, per side
	var recSent, oursSent bool
	extra := func(s *Segment) {
		if s.Len > 0 && oursSent && !seqAfter(s.Seq+uint32(s.Len), oursEnd) {
			c.add(Retransmission, nil, s, "sent retransmission "+s.String()+" not recorded")
		} else {
			c.add(Extra, nil, s, "sent "+s.String()+" not recorded")
		}
		oursEnd, oursSent = advance(oursEnd, oursSent, s)
	}
	for i := range f.Recorded {
		rec := &f.Recorded[i]
		k := -1
		for d := 0; d < Lookahead && j+d < len(f.Ours); d++ {
			if sameIdentity(rec, &f.Ours[j+d]) {
				k = j + d
				break
			}
			if c.shifted(rec, &f.Ours[j+d]) {
				k = j + d
				c.ex.shifted++
				break
			}
		}
		if k < 0 {
			if rec.Len > 0 && recSent && !seqAfter(rec.Seq+uint32(rec.Len), recEnd) {
				c.add(Retransmission, rec, nil, "recorded retransmission "+rec.String()+" not sent")
			} else {
				c.add(Missing, rec, nil, "recorded "+rec.String()+" not sent")
			}
			recEnd, recSent = advance(recEnd, recSent, rec)
			continue
		}
		for ; j < k; j++ {
			extra(&f.Ours[j])
		}
		fr.Matched++
		compareSegments(c, rec, &f.Ours[k])
		recEnd, recSent = advance(recEnd, recSent, rec)
		oursEnd, oursSent = advance(oursEnd, oursSent, &f.Ours[k])
		j = k + 1
	}
	for ; j < len(f.Ours); j++ {
		extra(&f.Ours[j])
	}
	return *fr, c.ex.causes()
}

// advance returns the highest sequence number sent after s.
func advance(end uint32, sent bool, s *Segment) (uint32, bool) {
	e := s.Seq + uint32(s.Len)
	if !sent || seqAfter(e, end) {
		return e, true
	}
	return end, true
}

// seqAfter reports a > b in sequence space (RFC 9293 section 3.4).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// sameIdentity reports whether two segments are the same segment: same
// relative sequence number, length and SYN/FIN/RST.
func sameIdentity(a, b *Segment) bool {
	return a.Seq == b.Seq && a.Len == b.Len && a.Flags&identityFlags == b.Flags&identityFlags
}

func compareSegments(c *flowCmp, rec, ours *Segment) {
	if rec.Flags != ours.Flags {
		c.add(Flags, rec, ours, fmt.Sprintf("flags [%s] recorded, [%s] sent", FlagString(rec.Flags), FlagString(ours.Flags)))
	}
	if rec.Flags&FlagACK != 0 && ours.Flags&FlagACK != 0 && rec.Ack != ours.Ack {
		c.add(Ack, rec, ours, fmt.Sprintf("ack %d recorded, %d sent", rec.Ack, ours.Ack))
	}
	if rec.Sum != ours.Sum {
		c.add(Payload, rec, ours, fmt.Sprintf("payload of %d bytes at seq %d differs", rec.Len, rec.Seq))
	}
	if rec.Flags&FlagRST == 0 && absDiff(rec.Window, ours.Window) > c.cfg.WindowTolerance {
		c.add(Window, rec, ours, fmt.Sprintf("window %d recorded, %d sent", rec.Window, ours.Window))
	}
	if rec.Options != ours.Options {
		c.add(Options, rec, ours, fmt.Sprintf("options %q recorded, %q sent", rec.Options, ours.Options))
	}
}

// compareDatagrams pairs datagrams by position: UDP has no sequence space.
func compareDatagrams(c *flowCmp, f *Flow) {
	n := min(len(f.Recorded), len(f.Ours))
	for i := 0; i < n; i++ {
		rec, ours := &f.Recorded[i], &f.Ours[i]
		c.fr.Matched++
		if rec.Len != ours.Len || rec.Sum != ours.Sum {
			detail := fmt.Sprintf("datagram %d: %d bytes recorded, %d sent, contents differ", i+1, rec.Len, ours.Len)
			fields := FieldDiffs(f.Port, rec.Data, ours.Data)
			switch {
			case len(fields) > 0:
				detail = fmt.Sprintf("datagram %d: %s", i+1, strings.Join(fields, "; "))
			case fields != nil:
				detail = fmt.Sprintf("datagram %d: %d bytes recorded, %d sent, same fields (other encoding or order)", i+1, rec.Len, ours.Len)
			}
			c.addFields(Payload, rec, ours, detail, fields)
		}
	}
	for i := n; i < len(f.Recorded); i++ {
		c.add(Missing, &f.Recorded[i], nil, fmt.Sprintf("recorded datagram of %d bytes not sent", f.Recorded[i].Len))
	}
	for i := n; i < len(f.Ours); i++ {
		c.add(Extra, nil, &f.Ours[i], fmt.Sprintf("sent datagram of %d bytes not recorded", f.Ours[i].Len))
	}
}

// compareLabelled pairs ICMP messages or ARP packets by label, in order:
// each recorded one with the first unpaired one of ours with its label.
func compareLabelled(c *flowCmp, f *Flow) {
	used := make([]bool, len(f.Ours))
	for i := range f.Recorded {
		rec := &f.Recorded[i]
		k := -1
		for j := range f.Ours {
			if !used[j] && f.Ours[j].Label == rec.Label {
				k = j
				break
			}
		}
		if k < 0 {
			c.add(Missing, rec, nil, fmt.Sprintf("recorded %s %s not sent", f.Proto, rec.Label))
			continue
		}
		used[k] = true
		c.fr.Matched++
	}
	for j := range f.Ours {
		if !used[j] {
			c.add(Extra, nil, &f.Ours[j], fmt.Sprintf("sent %s %s not recorded", f.Proto, f.Ours[j].Label))
		}
	}
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("diff: write json: %w", err)
	}
	return nil
}

// WriteSummary writes a readable summary: one line per flow with its counts
// by kind, then the first few differences of each flow that has any.
func (r *Report) WriteSummary(w io.Writer, perFlow int) error {
	var b strings.Builder
	if r.Partial != "" {
		fmt.Fprintf(&b, "partial: %s\n", r.Partial)
	}
	if r.Empty() {
		fmt.Fprintf(&b, "no differences in %d flows\n", len(r.Flows))
	} else {
		fmt.Fprintf(&b, "%d differences in %d flows: %s\n", r.Total(), len(r.Flows), countString(r.Totals))
		fmt.Fprintf(&b, "%d causes:\n", len(r.Causes))
		for _, c := range r.Causes {
			fmt.Fprintf(&b, "  %-14s %s %s, %d differences: %s\n", c.Kind, c.Flow, c.where(), c.Count, c.Reason)
		}
	}
	for i := range r.Flows {
		f := &r.Flows[i]
		fmt.Fprintf(&b, "%s: %d recorded, %d sent, %d matched", f.Flow, f.Recorded, f.Ours, f.Matched)
		if f.StreamsIdentical {
			b.WriteString(", streams identical")
		}
		if t := f.Total(); t > 0 {
			fmt.Fprintf(&b, ", %d differences (%s)", t, countString(f.Counts))
		}
		if f.Note != "" {
			fmt.Fprintf(&b, " [%s]", f.Note)
		}
		b.WriteByte('\n')
		for j, d := range f.Differences {
			if j == perFlow {
				fmt.Fprintf(&b, "  ... %d more\n", f.Total()-perFlow)
				break
			}
			fmt.Fprintf(&b, "  %-8s %s\n", d.Kind, d.Detail)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("diff: write summary: %w", err)
	}
	return nil
}

// where renders the frames where a cause first shows.
func (c *Cause) where() string {
	switch {
	case c.FirstFrame > 0 && c.FirstReplayFrame > 0:
		return fmt.Sprintf("from frame %d (replay frame %d)", c.FirstFrame, c.FirstReplayFrame)
	case c.FirstFrame > 0:
		return fmt.Sprintf("from frame %d", c.FirstFrame)
	case c.FirstReplayFrame > 0:
		return fmt.Sprintf("from replay frame %d", c.FirstReplayFrame)
	}
	return "-"
}

// countString renders counts as "missing=1 window=3", in Kinds order.
func countString(m map[Kind]int) string {
	var parts []string
	for _, k := range Kinds {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, " ")
}
