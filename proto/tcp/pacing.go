package tcp

import "time"

// This file holds Config.FQPacing: the linux profile's connections paced
// as Linux paces a flow under the fq qdisc, in the earliest departure time
// model (Linux 4.20 and later): __tcp_transmit_skb stamps each packet
// with tp->tcp_wstamp_ns, no earlier than now, and tcp_update_skb_after_send
// moves that stamp on by the packet's length at sk_pacing_rate, less up to
// half of it for the time the flow fell behind ("take into account OS
// jitter"), once the flow has sent 10 segments ("Original sch_fq does not
// pace first 10 MSS"). fq releases each packet at its stamp; simnet holds
// the packet until then (as Linux's internal pacing, tcp_pacing_check,
// does), so its header carries the ACK and window of its departure.

// fqUnpacedSegs is how many segments leave before pacing starts.
const fqUnpacedSegs = 10

// fqPaced reports whether Config.FQPacing paces the connection: the linux
// profile, and not BBR, which paces itself.
func (c *Conn) fqPaced() bool {
	return c.s.cfg.FQPacing && c.linuxPush() && c.rate.bbr == nil
}

// pacingRate is tcp_update_pacing_rate's sk_pacing_rate in bytes per
// second: cwnd (or the data in flight, if more) per SRTT, times
// tcp_pacing_ss_ratio (200%) in slow start below half ssthresh and
// tcp_pacing_ca_ratio (120%) after it; 0 (unpaced) before an RTT sample.
func (c *Conn) pacingRate() float64 {
	if !c.hasRTT || c.srtt <= 0 {
		return 0
	}
	ratio := pacingCARatio
	if c.ccs.Cwnd < c.ccs.Ssthresh/2 {
		ratio = pacingSSRatio
	}
	window := max(c.ccs.Cwnd, c.sndMax.diff(c.sndUna))
	return float64(window) * float64(ratio) / 100 / c.srtt.Seconds()
}

// fqSent is tcp_update_skb_after_send for a GSO packet of bytes data
// bytes in segs segments leaving now.
func (c *Conn) fqSent(bytes, segs int) {
	r := &c.rate
	now := c.s.clk.Now()
	prior := r.paceNext
	if r.paceNext.Before(now) {
		r.paceNext = now
	}
	c.dataSegsOut += segs
	rate := c.pacingRate()
	if rate <= 0 || c.dataSegsOut < fqUnpacedSegs {
		return
	}
	l := time.Duration(float64(bytes) / rate * float64(time.Second))
	l -= min(l/2, r.paceNext.Sub(prior))
	r.paceNext = r.paceNext.Add(l)
}
