package tcp

// This file holds the linux profile's model of where Linux (5.6 and
// later) sets PSH on the data it sends. Linux has no rule of its own in
// RFC 9293 (section 3.9.1.2 leaves PSH to the implementation); it sets it
//
//   - in tcp_sendmsg (net/ipv4/tcp.c), on the write queue's tail skb at
//     the end of every write without MSG_MORE (tcp_push), and on a full
//     skb of size_goal bytes when more than half the largest window the
//     peer offered was written since the last push (forced_push,
//     tcp_mark_push); an skb that later writes extend loses it again;
//   - in __tcp_transmit_skb (net/ipv4/tcp_output.c, "tcp: force a PSH flag
//     on TSO packets", Linux 5.6), on every TSO/GSO packet of more than one
//     segment, which segmentation leaves on its last segment. tcp_write_xmit
//     builds those packets of at most tcp_tso_segs segments (tcp_tso_autosize:
//     the pacing rate's bytes per ms, at least tcp_min_tso_segs = 2) and of
//     at most half the congestion window (tcp_cwnd_test).
//
// simnet sends MSS-sized segments, so it keeps the sequence numbers of the
// pushed skb ends (pushMarks) and groups the segments of a burst into the
// packets tcp_write_xmit would have built (gsoLeft).

const (
	// gsoMaxSize is sk_gso_max_size (GSO_LEGACY_MAX_SIZE), the largest
	// TSO packet and skb.
	gsoMaxSize = 65536
	// skbOverhead is what Linux charges an skb of the write queue beyond
	// its data (sk_wmem_queued counts skb->truesize): SKB_TRUESIZE of the
	// 1 KiB head tcp_stream_alloc_skb allocates for MAX_TCP_HEADER, with
	// struct sk_buff and skb_shared_info, on x86-64.
	skbOverhead = 1280
	// pacingSSRatio and pacingCARatio are net.ipv4.tcp_pacing_ss_ratio
	// and tcp_pacing_ca_ratio (percent), tcp_update_pacing_rate's factors.
	pacingSSRatio = 200
	pacingCARatio = 120
)

// pushState is the linux profile's PSH bookkeeping.
type pushState struct {
	// pushMarks are the ends of the skbs tcp_sendmsg marked with PSH,
	// ascending, above SND.UNA.
	pushMarks []seqnum
	// pushedSeq is Linux's tp->pushed_seq: the write sequence of the
	// latest mark (pushInit once set).
	pushedSeq seqnum
	pushInit  bool
	// skbStart is where the write queue's tail skb begins.
	skbStart seqnum
	// gsoLeft counts the segments left in the GSO packet being sent;
	// gsoSegs is its size.
	gsoLeft, gsoSegs int
	// skbEnds are the boundaries between the skbs Linux would hold
	// (tcp_sendmsg's and tso_fragment's splits), ascending, above
	// bufStart; sndLimit is SetSendLimit's cap (0: none).
	skbEnds  []seqnum
	sndLimit int
	// dataSegsOut counts the data segments sent (Linux's
	// tp->data_segs_out), for Config.FQPacing.
	dataSegsOut int
}

// linuxPush reports whether the linux profile's PSH model applies.
func (c *Conn) linuxPush() bool { return c.s.cfg.Profile == ProfileLinux }

// sizeGoal is tcp_xmit_size_goal: the size of the skbs tcp_sendmsg fills,
// a multiple of the MSS no larger than half the peer's largest window
// (tcp_bound_to_half_wnd).
func (c *Conn) sizeGoal() int {
	mss := max(c.mss, 1)
	goal := gsoMaxSize
	cutoff := int(c.maxSndWnd)
	if cutoff > 536 { // TCP_MSS_DEFAULT
		cutoff >>= 1
	}
	if cutoff > 0 && goal > cutoff {
		goal = cutoff
	}
	return max(goal/mss*mss, mss)
}

// writeLinux queues p as Linux's tcp_sendmsg does, skb by skb, marking PSH
// and pushing where it does, and returns how much fit in the send buffer.
func (c *Conn) writeLinux(p []byte) int {
	if !c.pushInit {
		c.pushedSeq, c.skbStart, c.pushInit = c.bufStart.add(c.sndBuf.n), c.bufStart.add(c.sndBuf.n), true
	}
	total := 0
	for len(p) > 0 {
		goal := c.sizeGoal()
		end := c.bufStart.add(c.sndBuf.n) // write_seq
		tail := c.skbStart
		if c.sndNxt.gt(tail) {
			tail = c.sndNxt // the tail skb's sent part was split off
		}
		if !tail.lt(end) || end.diff(tail) >= goal {
			if c.sndLimit > 0 && c.wmemQueued() >= c.sndLimit {
				break // sk_stream_memory_free: no room for a new skb
			}
			tail, c.skbStart = end, end // a new skb
			c.split(end)
		} else if total == 0 {
			c.unmark(end) // tcp_sendmsg: the tail skb loses PSH on the first copy
		}
		room := goal - end.diff(tail)
		n := c.sndBuf.append(p[:min(room, len(p))])
		total += n
		p = p[n:]
		if n == 0 || len(p) == 0 || n < room {
			break
		}
		end = end.add(n)
		if c.forcedPush(end) {
			c.mark(end)
			c.output()
		} else if tail == c.sndNxt {
			c.output() // tcp_push_one
		}
	}
	if total > 0 && (!c.more || c.forcedPush(c.bufStart.add(c.sndBuf.n))) {
		c.mark(c.bufStart.add(c.sndBuf.n)) // tcp_push
	}
	return total
}

// forcedPush is Linux's forced_push: more than half the peer's largest
// window was written since the last push mark.
func (c *Conn) forcedPush(writeSeq seqnum) bool {
	return writeSeq.gt(c.pushedSeq.add(int(c.maxSndWnd >> 1)))
}

// mark is tcp_mark_push: PSH on the skb ending at seq.
func (c *Conn) mark(seq seqnum) {
	c.pushedSeq = seq
	if k := len(c.pushMarks); k == 0 || c.pushMarks[k-1].lt(seq) {
		c.pushMarks = append(c.pushMarks, seq)
	}
}

// unmark drops the mark at seq, the end of the tail skb.
func (c *Conn) unmark(seq seqnum) {
	if k := len(c.pushMarks); k > 0 && c.pushMarks[k-1] == seq {
		c.pushMarks = c.pushMarks[:k-1]
	}
}

// markIn reports whether a push mark lies in (seq, end], forgetting the
// marks SND.UNA passed.
func (c *Conn) markIn(seq, end seqnum) bool {
	i := 0
	for i < len(c.pushMarks) && c.pushMarks[i].leq(c.sndUna) {
		i++
	}
	if i > 0 {
		c.pushMarks = append(c.pushMarks[:0], c.pushMarks[i:]...)
	}
	for _, m := range c.pushMarks {
		if m.gt(seq) && m.leq(end) {
			return true
		}
	}
	return false
}

// nextMark returns the first push mark above seq.
func (c *Conn) nextMark(seq seqnum) (seqnum, bool) {
	for _, m := range c.pushMarks {
		if m.gt(seq) {
			return m, true
		}
	}
	return 0, false
}

// gsoEnds reports whether the new segment about to leave from SND.NXT
// ends a GSO packet of more than one segment, starting a packet as
// tcp_write_xmit would (avail bytes wait, cwAvail and wndAvail are what
// the congestion and the peer's window allow).
func (c *Conn) gsoEnds(avail, cwAvail, wndAvail int) bool {
	if c.gsoLeft <= 0 {
		mss := max(c.mss, 1)
		// tcp_cwnd_test: at most half the window, so that two
		// packets are in flight.
		quota := min(max(c.ccs.Cwnd/mss>>1, 1)*mss, cwAvail)
		bytes := min(avail, wndAvail, quota, c.tsoSegs()*mss)
		if m, ok := c.nextMark(c.sndNxt); ok {
			bytes = min(bytes, m.diff(c.sndNxt)) // the skb ends there
		}
		if part := bytes % mss; part != 0 && bytes > mss && c.holdShort(part, avail-bytes+part) {
			bytes -= part // tcp_mss_split_point: Nagle or the cork holds it
		}
		c.gsoSegs = max((bytes+mss-1)/mss, 1)
		c.split(c.sndNxt.add(min(bytes, c.gsoSegs*mss))) // tso_fragment
		if c.fqPaced() {
			c.fqSent(min(bytes, c.gsoSegs*mss), c.gsoSegs)
		}
		c.gsoLeft = c.gsoSegs
	}
	c.gsoLeft--
	return c.gsoLeft == 0 && c.gsoSegs > 1
}

// tsoSegs is tcp_tso_segs: the segments of one TSO packet, the pacing
// rate's bytes per 2^sk_pacing_shift ns (about a millisecond), at least
// tcp_min_tso_segs. The pacing rate is tcp_update_pacing_rate's: cwnd
// (or the packets in flight, if more) per SRTT, times 2 in slow start
// below half ssthresh and 1.2 after it.
func (c *Conn) tsoSegs() int {
	mss := max(c.mss, 1)
	if !c.hasRTT || c.srtt <= 0 {
		return max(gsoMaxSize/mss, c.s.cfg.MinTSOSegs) // sk_pacing_rate is still ~0UL
	}
	ratio := pacingCARatio
	if c.ccs.Cwnd < c.ccs.Ssthresh/2 {
		ratio = pacingSSRatio
	}
	window := max(c.ccs.Cwnd, c.sndMax.diff(c.sndUna))
	rate := int64(window) * int64(ratio) / 100 * 1e9 / int64(c.srtt) // bytes/s
	bytes := min(rate>>10, gsoMaxSize)
	return max(int(bytes)/mss, c.s.cfg.MinTSOSegs)
}

// split records an skb boundary at seq, forgetting those acknowledged.
func (c *Conn) split(seq seqnum) {
	if len(c.skbEnds) > 0 && c.skbEnds[0].leq(c.bufStart) {
		c.pruneSplits()
	}
	if k := len(c.skbEnds); k == 0 || c.skbEnds[k-1].lt(seq) {
		c.skbEnds = append(c.skbEnds, seq)
	}
}

// wmemQueued is Linux's sk_wmem_queued for the linux profile: the bytes
// buffered plus skbOverhead for each skb holding them; the payload bytes
// in the other profiles.
func (c *Conn) wmemQueued() int {
	if c.sndBuf.n == 0 {
		return 0
	}
	if !c.linuxPush() {
		return c.sndBuf.n
	}
	c.pruneSplits()
	end := c.bufStart.add(c.sndBuf.n)
	skbs := 1
	for _, b := range c.skbEnds {
		if b.lt(end) {
			skbs++
		}
	}
	return c.sndBuf.n + skbs*skbOverhead
}

// pruneSplits drops the skb boundaries SND.UNA passed.
func (c *Conn) pruneSplits() {
	i := 0
	for i < len(c.skbEnds) && c.skbEnds[i].leq(c.bufStart) {
		i++
	}
	if i > 0 {
		c.skbEnds = append(c.skbEnds[:0], c.skbEnds[i:]...)
	}
}

// SetSendLimit caps the send buffer at n bytes as Linux's SO_SNDBUF does
// (n is sk_sndbuf, twice the value set). In the linux profile the buffer
// is counted as Linux counts sk_wmem_queued, each skb's data plus its
// overhead, and a write starts no new skb once it holds n (the skb being
// filled may take it past n, as tcp_sendmsg's do); in the other profiles
// it is n bytes of data. Zero removes the cap.
func (c *Conn) SetSendLimit(n int) { c.sndLimit = max(n, 0) }

// SendWritable reports whether a writer blocked on a full send buffer
// wakes: without SetSendLimit when the buffer has room; with it, in the
// linux profile when the free space is at least half of what is queued
// (sk_stream_write_space: sk_stream_wspace >= sk_stream_min_wspace, so a
// third of the buffer), otherwise when it is below the cap.
func (c *Conn) SendWritable() bool {
	if c.sndLimit == 0 {
		return c.Writable() > 0
	}
	q := c.wmemQueued()
	if !c.linuxPush() {
		return q < c.sndLimit
	}
	return q < c.sndLimit && c.sndLimit-q >= q/2
}
