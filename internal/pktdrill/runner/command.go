package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/simnet-go/simnet/internal/pktdrill"
	"github.com/simnet-go/simnet/proto/tcp"
)

// option applies a script's command-line option.
func (r *run) option(o pktdrill.Option) error {
	switch o.Name {
	case "ip_version":
		if o.Value != "ipv4" {
			return unsupportedf(o.Line, "option --ip_version=%s (IPv4 only)", o.Value)
		}
	case "profile":
		cfg, ok := r.opt.Profiles[o.Value]
		if !ok {
			return unsupportedf(o.Line, "option --profile=%s (no such TCP profile)", o.Value)
		}
		r.cfg = cfg
	case "tcp_ts_tick_usecs":
		n, err := strconv.Atoi(o.Value)
		if err != nil || n <= 0 {
			return unsupportedf(o.Line, "option --tcp_ts_tick_usecs=%s", o.Value)
		}
		r.tsTick = time.Duration(n) * time.Microsecond
	case "tolerance_usecs":
		n, err := strconv.Atoi(o.Value)
		if err != nil || n <= 0 {
			return unsupportedf(o.Line, "option --tolerance_usecs=%s", o.Value)
		}
		r.tolAbs = time.Duration(n) * time.Microsecond
	case "tolerance_percent":
		f, err := strconv.ParseFloat(o.Value, 64)
		if err != nil || f < 0 || f > 100 {
			return unsupportedf(o.Line, "option --tolerance_percent=%s", o.Value)
		}
		r.tolPercent = f
	case "local_ip", "remote_ip", "gateway_ip", "netmask_ip", "bind_port", "connect_port",
		"wire_client", "wire_server", "mss", "speed", "mtu", "init_scripts":
		return unsupportedf(o.Line, "option --%s", o.Name)
	}
	return nil
}

// command runs a back-quoted shell command: the sysctl settings of
// tcp/common/defaults.sh (read from beside the script) and the like map to
// the host's TCP configuration; anything else is unsupported.
func (r *run) command(text string, cleanup bool) error {
	text = strings.ReplaceAll(text, "\\\n", " ") // shell line continuations
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case strings.HasSuffix(f[0], "defaults.sh"):
			if err := r.defaults(f[0]); err != nil {
				return err
			}
		case strings.HasPrefix(f[0], "/tmp/sysctl_restore"):
			// Restores the sysctls a script changed: nothing to undo here.
		case strings.HasSuffix(f[0], "set_sysctls.py"):
			for _, a := range f[1:] {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return unsupportedf(r.line, "command %q", line)
				}
				k = strings.ReplaceAll(strings.TrimPrefix(k, "/proc/sys/"), "/", ".")
				if err := r.sysctl(k, v); err != nil {
					return err
				}
			}
		case f[0] == "ethtool" && len(f) >= 3 && f[1] == "-K" && offloadsOff(f[3:]):
			// simnet never offloads segmentation: compare segment by
			// segment from now on.
			r.noTSO = true
		case strings.Join(f, " ") == "tc qdisc replace dev tun0 root fq":
			// The fq qdisc paces each flow at its sk_pacing_rate.
			if r.tcp != nil {
				return unsupportedf(r.line, "fq after the TCP stack was created")
			}
			r.cfg.FQPacing = true
		case f[0] == "echo" && len(f) == 4 && f[2] == ">" && strings.HasPrefix(f[3], cubicParams):
			if err := r.cubicParam(strings.TrimPrefix(f[3], cubicParams), f[1], line); err != nil {
				return err
			}
		case f[0] == "sysctl":
			if err := r.sysctlCmd(f[1:], line); err != nil {
				return err
			}
		default:
			if cleanup {
				continue
			}
			return unsupportedf(r.line, "shell command %q", oneLine(line))
		}
	}
	return nil
}

// cubicParams is where Linux's tcp_cubic module takes its parameters.
const cubicParams = "/sys/module/tcp_cubic/parameters/"

// cubicParam maps a tcp_cubic module parameter onto tcp.Config.HyStart.
func (r *run) cubicParam(name, val, line string) error {
	if r.tcp != nil {
		return unsupportedf(r.line, "tcp_cubic parameter %s after the TCP stack was created", name)
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 {
		return unsupportedf(r.line, "command %q", oneLine(line))
	}
	h := &r.cfg.HyStart
	switch name {
	case "hystart":
		if n == 0 {
			h.Detect = 0
		} else if h.Detect == 0 {
			h.Detect = tcp.HyStartAckTrain | tcp.HyStartDelay
		}
	case "hystart_detect":
		h.Detect = n & (tcp.HyStartAckTrain | tcp.HyStartDelay)
	case "hystart_low_window":
		h.LowWindow = n
	case "hystart_ack_delta_us", "hystart_ack_delta":
		h.AckDelta = time.Duration(n) * time.Microsecond
	default:
		return unsupportedf(r.line, "tcp_cubic parameter %s", name)
	}
	return nil
}

// defaults reads packetdrill's defaults.sh (path relative to the script)
// and applies its sysctl lines; its other lines (ip tcp_metrics flush,
// tc qdisc) have no counterpart on the virtual link.
func (r *run) defaults(path string) error {
	if !filepath.IsAbs(path) {
		path = filepath.Join(r.dir, path)
	}
	b, err := os.ReadFile(path)
	// The shared copy keeps defaults.sh in tcp/common, where packetdrill's
	// tree has it one level up for some scripts: look in the parents too.
	for dir := r.dir; err != nil && filepath.Dir(dir) != dir; dir = filepath.Dir(dir) {
		if b2, err2 := os.ReadFile(filepath.Join(dir, "common", filepath.Base(path))); err2 == nil {
			b, err = b2, nil
		}
	}
	if err != nil {
		return unsupportedf(r.line, "defaults script %s: %v", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, ">"); i >= 0 {
			line = strings.TrimSpace(line[:i]) // drop redirections
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "sysctl" {
			continue
		}
		if err := r.sysctlCmd(f[1:], line); err != nil {
			return err
		}
	}
	return nil
}

// sysctlCmd applies `sysctl [-q] k=v ...`, where a quoted value may span
// fields ("4096 540000 $((15*1024*1024))").
func (r *run) sysctlCmd(args []string, line string) error {
	var joined []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if n := len(joined); n > 0 && strings.Count(joined[n-1], `"`)%2 == 1 {
			joined[n-1] += " " + a
			continue
		}
		joined = append(joined, a)
	}
	for _, a := range joined {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return unsupportedf(r.line, "sysctl command %q", line)
		}
		// sysctl(8) takes net/ipv4/x as well as net.ipv4.x.
		if err := r.sysctl(strings.ReplaceAll(k, "/", "."), strings.Trim(v, `"`)); err != nil {
			return err
		}
	}
	return nil
}

// ignoredSysctls are the Linux settings with no knob in tcp.Config, each
// with what simnet does instead; they are accepted (the scripts set them
// all) and listed in docs/scripts.md.
var ignoredSysctls = map[string]string{
	"tcp_frto":            "no F-RTO (RFC 5682)",
	"tcp_dsack":           "no D-SACK",
	"tcp_fack":            "no FACK (0 is Linux's default too)",
	"tcp_reordering":      "dupthresh is fixed at 3",
	"tcp_early_retrans":   "early retransmit (RFC 5827) always on, TLP with RACK as the profile sets it",
	"tcp_recovery":        "RACK (RFC 8985) as the profile sets it (tcp.Config.RACK)",
	"tcp_tso_win_divisor": "no TSO",
	"tcp_ecn":             "no ECN",
	"tcp_ecn_option":      "no ECN",
	"tcp_pacing_ss_ratio": "200, the fq pacing model's (tcp.Config.FQPacing)",
	"tcp_pacing_ca_ratio": "120, the fq pacing model's (tcp.Config.FQPacing)",
	"tcp_notsent_lowat":   "no TCP_NOTSENT_LOWAT",
	"tcp_fastopen":        "no TCP Fast Open",
	"tcp_fastopen_key":    "no TCP Fast Open",
	"tcp_syncookies":      "no SYN cookies (the backlog drops instead)",
	"tcp_synack_retries":  "SYN and SYN-ACK share tcp.Config.SynRetries",
}

// onlyValue are the ignored settings whose other values ask for behaviour
// simnet does not have.
var onlyValue = map[string]string{
	"tcp_fack":       "0",
	"tcp_reordering": "3",
	"tcp_ecn":        "0",
	// The fq pacing model's ratios are Linux's defaults.
	"tcp_pacing_ss_ratio": "200",
	"tcp_pacing_ca_ratio": "120",
}

// sysctl maps one Linux TCP setting onto tcp.Config.
func (r *run) sysctl(key, val string) error {
	name := strings.TrimPrefix(key, "net.ipv4.")
	if r.tcp != nil {
		return unsupportedf(r.line, "sysctl %s after the TCP stack was created", name)
	}
	atoi := func() (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return 0, unsupportedf(r.line, "sysctl %s=%q", name, val)
		}
		return n, nil
	}
	switch name {
	case "tcp_rmem", "tcp_wmem":
		f := strings.Fields(val)
		if len(f) != 3 {
			return unsupportedf(r.line, "sysctl %s=%q", name, val)
		}
		vals := make([]int, 3)
		for i, s := range f {
			n, err := evalShellInt(s)
			if err != nil {
				return unsupportedf(r.line, "sysctl %s=%q: %v", name, val, err)
			}
			vals[i] = n
		}
		if name == "tcp_rmem" {
			// Linux autotunes the receive buffer up to the maximum and
			// picks the window scale from it.
			r.cfg.RecvBuffer = vals[2]
		} else {
			// Likewise the send buffer grows up to the maximum.
			r.cfg.SendBuffer = vals[2]
		}
	case "tcp_min_tso_segs":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.MinTSOSegs = n
	case "tcp_timestamps":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.DisableTimestamps = n == 0
	case "tcp_sack":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.DisableSACK = n == 0
	case "tcp_window_scaling":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.DisableWindowScale = n == 0
	case "tcp_syn_retries":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.SynRetries = n
	case "tcp_retries2":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.MaxRetries = n
	case "tcp_slow_start_after_idle":
		n, err := atoi()
		if err != nil {
			return err
		}
		r.cfg.SlowStartAfterIdle = n != 0
	case "tcp_congestion_control":
		switch val {
		case "cubic":
			r.cfg.CongestionControl = "cubic"
		case "reno":
			r.cfg.CongestionControl = "newreno"
		default:
			return unsupportedf(r.line, "congestion control %q", val)
		}
	default:
		if _, ok := ignoredSysctls[name]; !ok {
			return unsupportedf(r.line, "sysctl %s", name)
		}
		if want, ok := onlyValue[name]; ok && strings.TrimSpace(val) != want {
			return unsupportedf(r.line, "sysctl %s=%s (simnet behaves as %s=%s: %s)", name, val, name, want, ignoredSysctls[name])
		}
	}
	return nil
}

// evalShellInt evaluates a number or a `$((a*b*c))` product.
func evalShellInt(s string) (int, error) {
	if inner, ok := strings.CutPrefix(s, "$(("); ok {
		inner = strings.TrimSuffix(inner, "))")
		v := 1
		for _, f := range strings.Split(inner, "*") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return 0, fmt.Errorf("shell arithmetic %q", s)
			}
			v *= n
		}
		return v, nil
	}
	return strconv.Atoi(s)
}

// offloadsOff reports whether ethtool -K arguments only turn offloads off.
func offloadsOff(args []string) bool {
	if len(args) == 0 || len(args)%2 != 0 {
		return false
	}
	for i := 0; i < len(args); i += 2 {
		if args[i+1] != "off" {
			return false
		}
	}
	return true
}
