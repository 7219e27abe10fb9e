package diff

import (
	"fmt"
	"strings"
)

// CauseKind is a kind of cause: one reason that explains a group of
// differences.
type CauseKind string

// The kinds of cause (docs/replay.md explains each).
const (
	// CauseSegmentation: the byte streams are identical (or identical
	// where the segments lie) but cut into segments at other boundaries,
	// or PSH set on other segments.
	CauseSegmentation CauseKind = "segmentation"
	// CauseHead: the streams part early and end in the same bytes: a
	// response head (HTTP status line, headers) differs, the body is the
	// same; every later segment shifts by the difference in length.
	CauseHead CauseKind = "head"
	// CauseContent: the streams differ beyond a head (other content, or
	// one side sent nothing); later segments follow from it.
	CauseContent CauseKind = "content"
	// CauseAckPlacement: pure ACKs sent at other moments, or segments
	// acknowledging other bytes (delayed ACK, the application's reads).
	CauseAckPlacement CauseKind = "ack-placement"
	// CauseWindowPolicy: other advertised windows or TCP options
	// (receive-buffer autotuning, window scale, MSS).
	CauseWindowPolicy CauseKind = "window-policy"
	// CauseRetransmission: retransmissions one side made and the other
	// did not (timers and loss recovery at other moments).
	CauseRetransmission CauseKind = "retransmission"
	// CauseClose: FIN or RST segments sent by one side only (who closes
	// first, or a FIN retransmitted and reset).
	CauseClose CauseKind = "close"
	// CauseHandshake: SYN segments sent by one side only.
	CauseHandshake CauseKind = "handshake"
	// CauseDNS and CauseDHCP: DNS or DHCP messages that differ, named by
	// field, or sent by one side only.
	CauseDNS  CauseKind = "dns"
	CauseDHCP CauseKind = "dhcp"
	// CauseDatagram: other UDP datagrams that differ or were sent by one
	// side only.
	CauseDatagram CauseKind = "datagram"
	// CauseICMP and CauseARP: ICMP messages or ARP packets sent by one
	// side only (such as a port unreachable for a port with no server).
	CauseICMP CauseKind = "icmp"
	CauseARP  CauseKind = "arp"
	// CauseNotReplayed: a flow the recorded host opened; host-role
	// replay only answers, so its segments are not reproduced.
	CauseNotReplayed CauseKind = "not-replayed"
)

// Cause is one reason that explains a group of differences.
type Cause struct {
	Kind CauseKind `json:"kind"`
	Flow string    `json:"flow"`
	// FirstFrame is the frame of the input capture where the cause first
	// shows (0 when only our side shows it); FirstReplayFrame the frame
	// of the replay output where it first shows on our side (0 when
	// only the recording shows it).
	FirstFrame       int `json:"first_frame"`
	FirstReplayFrame int `json:"first_replay_frame,omitempty"`
	// Count is the number of differences the cause explains.
	Count int `json:"count"`
	// Reason says what happened, in one line.
	Reason string `json:"reason"`
}

// causeAcc accumulates one cause of one flow.
type causeAcc struct {
	kind                  CauseKind
	firstFrame, firstOurs int
	count                 int
	missing, extra, other int
	winRec, winOurs       [2]uint32 // min, max
	haveWin               bool
	options               string
	first                 string
	fields                []string
	labels                []string
}

// explainer classifies the differences of one flow into causes.
type explainer struct {
	flow   *Flow
	stream *StreamDiff
	order  []*causeAcc
	by     map[CauseKind]*causeAcc
	// shifted counts segments paired by stream position past the head.
	shifted int
}

func newExplainer(f *Flow) *explainer {
	return &explainer{flow: f, by: make(map[CauseKind]*causeAcc)}
}

// note classifies one difference.
func (e *explainer) note(k Kind, rec, ours *Segment, detail string, fields []string) {
	ck := e.classify(k, rec, ours)
	a := e.by[ck]
	if a == nil {
		a = &causeAcc{kind: ck, first: detail}
		e.by[ck] = a
		e.order = append(e.order, a)
	}
	a.count++
	if rec != nil && a.firstFrame == 0 {
		a.firstFrame = rec.Frame
	}
	if ours != nil && a.firstOurs == 0 {
		a.firstOurs = ours.Frame
	}
	switch {
	case k == Missing || (k == Retransmission && ours == nil):
		a.missing++
	case k == Extra || (k == Retransmission && rec == nil):
		a.extra++
	case k == Stream:
		// Said by the reason itself.
	default:
		a.other++
	}
	if k == Window {
		if !a.haveWin {
			a.winRec = [2]uint32{rec.Window, rec.Window}
			a.winOurs = [2]uint32{ours.Window, ours.Window}
			a.haveWin = true
		}
		a.winRec = [2]uint32{min(a.winRec[0], rec.Window), max(a.winRec[1], rec.Window)}
		a.winOurs = [2]uint32{min(a.winOurs[0], ours.Window), max(a.winOurs[1], ours.Window)}
	}
	if k == Options && a.options == "" {
		a.options = fmt.Sprintf("options %q recorded, %q sent", rec.Options, ours.Options)
	}
	if len(fields) > 0 {
		for _, fl := range fields {
			if len(a.fields) < maxFieldDiffs && !contains(a.fields, fl) {
				a.fields = append(a.fields, fl)
			}
		}
	}
	for _, s := range []*Segment{rec, ours} {
		if s != nil && s.Label != "" && len(a.labels) < 3 && !contains(a.labels, s.Label) {
			a.labels = append(a.labels, s.Label)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// streamCause is the cause of a stream difference: a head when the
// streams end in the same bytes and the parts that differ are short.
func (e *explainer) streamCause() CauseKind {
	sd := e.stream
	if sd.CommonSuffix > 0 && sd.RecordedLen-sd.Offset-sd.CommonSuffix <= maxHead && sd.OursLen-sd.Offset-sd.CommonSuffix <= maxHead {
		return CauseHead
	}
	return CauseContent
}

// maxHead is the longest difference taken for a head (HTTP headers).
const maxHead = 8192

// afterPart reports whether s lies beyond the offset where the streams
// part (sequence numbers count the SYN: stream offset o is seq o+1).
func (e *explainer) afterPart(s *Segment) bool {
	return e.stream != nil && int64(s.Seq)+int64(s.Len) > int64(e.stream.Offset)+1
}

func (e *explainer) classify(k Kind, rec, ours *Segment) CauseKind {
	f := e.flow
	if f.Note != "" {
		return CauseNotReplayed
	}
	switch f.Proto {
	case ICMP:
		return CauseICMP
	case ARP:
		return CauseARP
	case UDP:
		switch f.Port {
		case portDNS:
			return CauseDNS
		case portDHCPServer, portDHCPClient:
			return CauseDHCP
		}
		return CauseDatagram
	}
	s := rec
	if s == nil {
		s = ours
	}
	switch k {
	case Stream:
		return e.streamCause()
	case Window, Options:
		return CauseWindowPolicy
	case Retransmission:
		return CauseRetransmission
	case Ack:
		return CauseAckPlacement
	case Flags:
		if (rec.Flags^ours.Flags)&^FlagPSH == 0 {
			return CauseSegmentation
		}
		return CauseAckPlacement
	case Payload:
		if e.stream != nil {
			return e.streamCause()
		}
		return CauseContent
	}
	// Missing and Extra.
	switch {
	case s.Flags&FlagSYN != 0:
		return CauseHandshake
	case s.Flags&(FlagFIN|FlagRST) != 0 && s.Len == 0:
		return CauseClose
	case e.afterPart(s):
		// One early shift is one cause: every later segment follows.
		return e.streamCause()
	case s.Len > 0:
		return CauseSegmentation
	}
	return CauseAckPlacement
}

// causes returns the flow's causes with their reasons.
func (e *explainer) causes() []Cause {
	out := make([]Cause, 0, len(e.order))
	for _, a := range e.order {
		out = append(out, Cause{Kind: a.kind, Flow: e.flow.Name, FirstFrame: a.firstFrame, FirstReplayFrame: a.firstOurs,
			Count: a.count, Reason: e.reason(a)})
	}
	return out
}

// sides renders "N recorded not sent, M of ours not recorded, K paired
// differ" without the zero parts.
func sides(a *causeAcc, what string) string {
	var parts []string
	if a.missing > 0 {
		parts = append(parts, fmt.Sprintf("%d recorded %s not sent", a.missing, what))
	}
	if a.extra > 0 {
		parts = append(parts, fmt.Sprintf("%d of ours not recorded", a.extra))
	}
	if a.other > 0 {
		parts = append(parts, fmt.Sprintf("%d paired differ", a.other))
	}
	return strings.Join(parts, ", ")
}

func (e *explainer) reason(a *causeAcc) string {
	sd := e.stream
	switch a.kind {
	case CauseSegmentation:
		head := "stream bytes identical but segmented differently"
		if !e.flowIdentical() {
			head = "the same bytes segmented differently"
		}
		return fmt.Sprintf("%s (segment sizes follow the application's writes and the peer's window; PSH marks each write): %s", head, sides(a, "segments"))
	case CauseHead:
		paired := ""
		if e.shifted > 0 {
			paired = fmt.Sprintf("; %d later segments pair up %+d bytes away", e.shifted, sd.OursLen-sd.RecordedLen)
		}
		return fmt.Sprintf("headers differ, body identical: the streams part at offset %d (%s recorded, %s sent) and end in the same %d bytes (%d recorded, %d sent); later segments follow the shift: %s%s",
			sd.Offset, sd.Recorded, sd.Ours, sd.CommonSuffix, sd.RecordedLen, sd.OursLen, sides(a, "segments"), paired)
	case CauseContent:
		if sd == nil {
			return "segments carry other bytes: " + a.first
		}
		return fmt.Sprintf("byte streams differ from offset %d (%d bytes recorded, %d sent; %s recorded, %s sent); later segments follow from it: %s",
			sd.Offset, sd.RecordedLen, sd.OursLen, sd.Recorded, sd.Ours, sides(a, "segments"))
	case CauseAckPlacement:
		return "ACK placement (delayed ACK, ACK every segment, and when the application reads and answers): " + sides(a, "ACKs")
	case CauseWindowPolicy:
		var parts []string
		if a.haveWin {
			parts = append(parts, fmt.Sprintf("advertised windows %s bytes recorded, %s sent (receive-buffer autotuning against our buffer's free space)",
				span(a.winRec), span(a.winOurs)))
		}
		if a.options != "" {
			parts = append(parts, a.options)
		}
		return "window/option policy: " + strings.Join(parts, "; ")
	case CauseRetransmission:
		return "timing-caused retransmission (a timer or loss recovery fired on one side only): " + sides(a, "retransmissions")
	case CauseClose:
		return "the close differs (who closes first, a FIN alone or on the last data, an unacknowledged FIN retransmitted and reset): " + sides(a, "FIN/RST")
	case CauseHandshake:
		return "the handshake differs: " + sides(a, "SYN segments")
	case CauseDNS, CauseDHCP:
		name := strings.ToUpper(string(a.kind))
		if len(a.fields) > 0 {
			return fmt.Sprintf("%s messages differ in %d datagrams: %s", name, a.other, strings.Join(a.fields, "; ")) + extraSides(a, "messages")
		}
		return fmt.Sprintf("%s messages: %s", name, sides(a, "messages"))
	case CauseDatagram:
		return "datagrams: " + sides(a, "datagrams")
	case CauseICMP, CauseARP:
		return fmt.Sprintf("%s sent by one side only (%s): %s", strings.ToUpper(string(a.kind)), strings.Join(a.labels, "; "), sides(a, "messages"))
	case CauseNotReplayed:
		return "the recorded host opened this flow; host-role replay only answers: " + sides(a, "segments")
	}
	return a.first
}

// extraSides appends the one-sided counts of a field cause, if any.
func extraSides(a *causeAcc, what string) string {
	b := *a
	b.other = 0
	if s := sides(&b, what); s != "" {
		return "; " + s
	}
	return ""
}

func (e *explainer) flowIdentical() bool {
	return e.stream == nil && e.flow.RecordedStream != nil && string(e.flow.RecordedStream) == string(e.flow.OurStream)
}

func span(r [2]uint32) string {
	if r[0] == r[1] {
		return fmt.Sprint(r[0])
	}
	return fmt.Sprintf("%d..%d", r[0], r[1])
}
