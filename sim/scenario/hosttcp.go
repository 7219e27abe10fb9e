package scenario

// ccNames are the congestion controls a host's cc may name (proto/tcp's
// Config.CongestionControl).
var ccNames = []string{"newreno", "cubic", "bbr"}

// ccName decodes a congestion control name.
func (d *decoder) ccName(o *object) string {
	n := o.get("cc")
	if n == nil {
		return ""
	}
	v, ok := d.scalar(n, o.field("cc"))
	if !ok {
		return ""
	}
	for _, c := range ccNames {
		if v == c {
			return v
		}
	}
	d.fail(n, o.field("cc"), "unknown congestion control %q (want newreno, cubic or bbr)", v)
	return ""
}

// appTCP decodes a tcp_send app's cc: the sender's congestion control,
// instead of its host's.
func (d *decoder) appTCP(o *object, a *App) {
	a.CC = d.ccName(o)
}

// hostTCP decodes a host's TCP keys: cc (the congestion control of every
// connection the host opens or accepts) and ecn (TCP negotiates ECN, RFC
// 3168).
func (d *decoder) hostTCP(o *object, h *Host) {
	h.CC = d.ccName(o)
	if n := o.get("ecn"); n != nil {
		h.ECN, _ = d.boolean(n, o.field("ecn"))
	}
}
