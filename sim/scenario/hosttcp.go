package scenario

// ccNames are the congestion controls a host's cc may name (proto/tcp's
// Config.CongestionControl).
var ccNames = []string{"newreno", "cubic", "bbr"}

// hostTCP decodes a host's TCP keys: cc (the congestion control of every
// connection the host opens or accepts) and ecn (TCP negotiates ECN, RFC
// 3168).
func (d *decoder) hostTCP(o *object, h *Host) {
	if n := o.get("cc"); n != nil {
		if v, ok := d.scalar(n, o.field("cc")); ok {
			found := false
			for _, c := range ccNames {
				found = found || v == c
			}
			if !found {
				d.fail(n, o.field("cc"), "unknown congestion control %q (want newreno, cubic or bbr)", v)
			} else {
				h.CC = v
			}
		}
	}
	if n := o.get("ecn"); n != nil {
		h.ECN, _ = d.boolean(n, o.field("ecn"))
	}
}
