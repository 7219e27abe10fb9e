package tcp

import "sort"

// updateScoreboard records the SACK blocks of an ACK (RFC 6675 section 5).
func (c *Conn) updateScoreboard(o *Options) {
	if c.sb == nil {
		c.sb = make([]seqRange, 0, maxScoreboard)
	}
	priorFack, haveFack := c.sndUna, len(c.sb) > 0
	if haveFack {
		priorFack = c.sb[len(c.sb)-1].end
	}
	reord, reordSet := seqnum(0), false
	for i := 0; i < o.NumSACK; i++ {
		r := seqRange{seqnum(o.SACK[i].Start), seqnum(o.SACK[i].End)}
		if !r.start.lt(r.end) {
			continue
		}
		r.start = seqMax(r.start, c.sndUna)
		r.end = seqMin(r.end, c.sndMax)
		if c.s.cfg.Profile == ProfileLinux && c.rackOn() {
			r = c.wholeSegments(r)
		}
		if !r.start.lt(r.end) {
			continue
		}
		if s, ok := firstUncovered(c.sb, r); ok && haveFack && s.lt(priorFack) && !c.retransmitted(s) && (!reordSet || s.lt(reord)) {
			reord, reordSet = s, true
		}
		var added int
		var ok bool
		if c.sb, added, ok = insertRange(c.sb, r, maxScoreboard); ok {
			c.stats.SACKedBytes += uint64(added)
		}
	}
	if reordSet && len(c.sb) > 0 {
		// Linux's tcp_check_sack_reordering: data never retransmitted,
		// newly SACKed below the highest SACKed byte, arrived out of
		// order; the reordering degree is the distance in segments.
		if metric := c.sb[len(c.sb)-1].end.diff(reord); metric > c.reorderingDegree()*c.mss {
			c.reordering = min((metric+c.mss-1)/c.mss, linuxMaxReordering)
		}
	}
}

// wholeSegments trims a SACK block to the transmitted segments it covers
// whole: Linux's scoreboard is per segment (tcp_sacktag_walk), and a
// block covering part of a single-MSS segment marks nothing
// (fr-4pkt-fack-last-byte.pkt).
func (s *sender) wholeSegments(r seqRange) seqRange {
	recs := s.rk.recs[s.rk.head:]
	i := sort.Search(len(recs), func(k int) bool { return !recs[k].start.lt(r.start) })
	if i == len(recs) {
		return seqRange{r.start, r.start}
	}
	out := seqRange{recs[i].start, recs[i].start}
	for ; i < len(recs) && recs[i].end.leq(r.end); i++ {
		out.end = recs[i].end
	}
	return out
}

// linuxMaxReordering is Linux's tcp_max_reordering default.
const linuxMaxReordering = 300

// firstUncovered returns the first byte of r that no range of the sorted
// list sb covers.
func firstUncovered(sb []seqRange, r seqRange) (seqnum, bool) {
	s := r.start
	for _, b := range sb {
		if b.start.gt(s) {
			break
		}
		if b.end.gt(s) {
			s = b.end
		}
	}
	return s, s.lt(r.end)
}

// retransmitted reports whether the byte at seq was sent more than once
// (by RACK's records, else by RFC 6675's HighRxt).
func (c *Conn) retransmitted(seq seqnum) bool {
	if !c.rackOn() {
		return seq.lt(c.highRxt)
	}
	for i := c.rk.head; i < len(c.rk.recs); i++ {
		if r := &c.rk.recs[i]; !seq.lt(r.start) && seq.lt(r.end) {
			return r.rtx
		}
	}
	return false
}

const maxScoreboard = 32

// detectLostRetransmit restarts hole retransmission during SACK recovery
// when data first sent after the latest retransmission is SACKed while
// holes below HighRxt remain: those retransmissions were lost too (the
// lost-retransmission detection Linux does; RFC 6675 leaves it to the
// timer).
func (c *Conn) detectLostRetransmit() {
	if !c.inRecovery || !c.rtxMarkSet {
		return
	}
	for _, r := range c.sb {
		if r.end.gt(c.rtxMark) {
			c.rtxMarkSet = false
			if c.highRxt.gt(c.sndUna) {
				c.highRxt = c.sndUna
				c.stats.LostRetransmits++
			}
			return
		}
	}
}

// pruneScoreboard drops SACK information below SND.UNA.
func (s *sender) pruneScoreboard() {
	i := 0
	for i < len(s.sb) && s.sb[i].end.leq(s.sndUna) {
		i++
	}
	if i > 0 {
		s.sb = s.sb[:copy(s.sb, s.sb[i:])]
	}
	if len(s.sb) > 0 && s.sb[0].start.lt(s.sndUna) {
		s.sb[0].start = s.sndUna
	}
}

// skipSACKed moves SND.NXT past a SACKed range it points into, during the
// go-back-N resend after a timeout.
func (s *sender) skipSACKed() {
	for _, r := range s.sb {
		if s.sndNxt.geq(r.start) && s.sndNxt.lt(r.end) {
			s.sndNxt = r.end
		}
	}
}

// sackedBelow returns the SACKed bytes below seq.
func (s *sender) sackedBelow(seq seqnum) int {
	n := 0
	for _, r := range s.sb {
		if r.start.geq(seq) {
			break
		}
		n += seqMin(r.end, seq).diff(r.start)
	}
	return n
}

func (s *sender) sackedBytes() int {
	n := 0
	for _, r := range s.sb {
		n += r.len()
	}
	return n
}

// lostAbove reports whether sacked bytes above a hole mark it lost: RFC
// 6675 section 4's IsLost with DupThresh 3, more than (DupThresh-1)*SMSS
// bytes sacked above.
func (s *sender) lostAbove(sackedAbove int) bool { return sackedAbove > 2*s.mss }

// isLost is RFC 6675's IsLost(seq).
func (s *sender) isLost(seq seqnum) bool {
	above := 0
	for _, r := range s.sb {
		if r.start.gt(seq) {
			above += r.len()
		}
	}
	return s.lostAbove(above)
}

// pipe is RFC 6675's SetPipe: bytes believed in flight.
func (c *Conn) pipe() int {
	if c.rackOn() {
		// RFC 8985 section 6 with RFC 6675's definition: segments neither
		// SACKed nor marked lost (a retransmission clears the mark).
		n := 0
		for i := c.rk.head; i < len(c.rk.recs); i++ {
			if r := &c.rk.recs[i]; !r.sacked && !r.lost {
				n += r.end.diff(r.start)
			}
		}
		return n
	}
	above := c.sackedBytes()
	pipe := 0
	prev := c.sndUna
	for _, r := range c.sb {
		if hole := r.start.diff(prev); hole > 0 {
			if !c.lostAbove(above) {
				pipe += hole
			}
			if rx := seqMin(c.highRxt, r.start).diff(prev); rx > 0 {
				pipe += rx
			}
		}
		above -= r.len()
		prev = r.end
	}
	if tail := c.sndNxt.diff(prev); tail > 0 {
		pipe += tail
	}
	return pipe
}

// nextLost is rule (1) of RFC 6675's NextSeg: the first lost, not yet
// retransmitted byte range (by RACK's marks when it runs).
func (c *Conn) nextLost() (seqnum, int, bool) {
	if c.rackOn() {
		// RFC 8985: RACK's marks replace DupThresh's (its reordering
		// window is 0 in recovery), and pipe counts from the same marks.
		return c.rackNextLost()
	}
	above := c.sackedBytes()
	prev := c.sndUna
	for _, r := range c.sb {
		if r.start.gt(prev) && c.lostAbove(above) {
			s := seqMax(prev, c.highRxt)
			if s.lt(r.start) {
				return s, min(c.mss, r.start.diff(s)), true
			}
		}
		above -= r.len()
		prev = r.end
	}
	return 0, 0, false
}

// insertRange adds r to the sorted disjoint list rs, merging overlapping
// and adjacent ranges, and returns the list and the number of bytes newly
// covered. It refuses (ok false) when that would need more than limit
// ranges.
func insertRange(rs []seqRange, r seqRange, limit int) ([]seqRange, int, bool) {
	i := 0
	for i < len(rs) && rs[i].end.lt(r.start) {
		i++
	}
	j := i
	covered := 0
	m := r
	for j < len(rs) && rs[j].start.leq(r.end) {
		covered += rs[j].len()
		m.start = seqMin(m.start, rs[j].start)
		m.end = seqMax(m.end, rs[j].end)
		j++
	}
	added := m.len() - covered
	if i == j {
		if len(rs) >= limit {
			return rs, 0, false
		}
		rs = append(rs, seqRange{})
		copy(rs[i+1:], rs[i:])
		rs[i] = m
		return rs, added, true
	}
	rs[i] = m
	rs = append(rs[:i+1], rs[j:]...)
	return rs, added, true
}
