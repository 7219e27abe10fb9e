package scenario

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// SeriesDir is the directory under the output directory that receives the
// time series (Options.Series).
const SeriesDir = "series"

// The series files, one per kind.
const (
	TCPSeriesFile   = "tcp.csv"
	QueueSeriesFile = "queue.csv"
	AppSeriesFile   = "app.csv"
)

// DefaultSeriesMax is the default bound on the rows kept per TCP
// connection and per queue (Options.SeriesMax).
const DefaultSeriesMax = 5000

// Series holds a run's time series, taken from hooks on the simulated
// connections and queues (never from the wall clock): every instant is
// simulated time from the start of the run.
type Series struct {
	// TCP has a row per change of a connection's state, in time order.
	TCP []TCPSample
	// Queue has a row per frame a rate-limited link direction's queue
	// admitted, refused or let go (see impair.QueueObserver).
	Queue []QueueSample
	// App has a row per goodput interval of the apps with an interval.
	App []IntervalSample
}

// TCPSample is one connection's state at one instant.
type TCPSample struct {
	At   time.Duration
	Host string
	// Flow names the connection "local->remote".
	Flow string
	tcp.Info
}

// QueueSample is one link direction's queue at one instant.
type QueueSample struct {
	At   time.Duration
	Link string
	// Dir is "a_to_b" or "b_to_a", in the scenario file's orientation.
	Dir string
	impair.QueueState
}

// IntervalSample is an app's goodput over one interval.
type IntervalSample struct {
	Host, App string
	Interval
}

// Interval is the goodput of an app over one reporting interval, like
// one of iperf's interval lines.
type Interval struct {
	// StartNs and EndNs bound the interval, from the start of the run.
	StartNs time.Duration `json:"start_ns"`
	EndNs   time.Duration `json:"end_ns"`
	// Bytes moved in the interval: acknowledged (tcp_send) or received
	// (tcp_recv, udp_sink).
	Bytes int64 `json:"bytes"`
	// BitsPerSecond is Bytes*8 over the interval's length.
	BitsPerSecond float64 `json:"bits_per_second"`
}

// decimator keeps about max rows of a stream, in order: the stream is cut
// into buckets of k consecutive rows and each bucket keeps its first and
// last rows and the rows with the smallest and largest key, so a short
// dip or spike survives. When the buckets outgrow the bound, neighbours
// merge and k doubles. max 0 keeps every row.
type decimator[R any] struct {
	max    int
	key    func(*R) float64
	k      int
	seq    uint64
	cur    bucket[R]
	done   []bucket[R]
	all    []R
	maxBkt int
}

type item[R any] struct {
	seq uint64
	v   float64
	r   R
}

type bucket[R any] struct {
	n                   int
	first, last, lo, hi item[R]
}

func newDecimator[R any](limit int, key func(*R) float64) *decimator[R] {
	return &decimator[R]{max: limit, key: key, k: 1, maxBkt: max(limit/4-1, 1)}
}

func (d *decimator[R]) add(r R) {
	if d.max <= 0 {
		d.all = append(d.all, r)
		return
	}
	d.seq++
	it := item[R]{seq: d.seq, v: d.key(&r), r: r}
	b := &d.cur
	if b.n == 0 {
		b.first, b.lo, b.hi = it, it, it
	}
	b.last = it
	if it.v < b.lo.v {
		b.lo = it
	}
	if it.v > b.hi.v {
		b.hi = it
	}
	b.n++
	if b.n < d.k {
		return
	}
	d.done = append(d.done, d.cur)
	d.cur = bucket[R]{}
	if len(d.done) <= d.maxBkt {
		return
	}
	merged := d.done[:0]
	for i := 0; i < len(d.done); i += 2 {
		if i+1 == len(d.done) {
			merged = append(merged, d.done[i])
			break
		}
		a, z := d.done[i], d.done[i+1]
		m := bucket[R]{n: a.n + z.n, first: a.first, last: z.last, lo: a.lo, hi: a.hi}
		if z.lo.v < m.lo.v {
			m.lo = z.lo
		}
		if z.hi.v > m.hi.v {
			m.hi = z.hi
		}
		merged = append(merged, m)
	}
	d.done = merged
	d.k *= 2
}

// rows returns the rows kept, in stream order.
func (d *decimator[R]) rows() []R {
	if d.max <= 0 {
		return d.all
	}
	var out []R
	emit := func(b bucket[R]) {
		its := []item[R]{b.first, b.lo, b.hi, b.last}
		slices.SortFunc(its, func(x, y item[R]) int { return cmp.Compare(x.seq, y.seq) })
		for i, it := range its {
			if i == 0 || it.seq != its[i-1].seq {
				out = append(out, it.r)
			}
		}
	}
	for _, b := range d.done {
		emit(b)
	}
	if d.cur.n > 0 {
		emit(d.cur)
	}
	return out
}

// seriesRecorder takes the series of a run from the stacks' and pipes'
// observers.
type seriesRecorder struct {
	t0    clock.Time
	clk   clock.Clock
	max   int
	conns map[*tcp.Conn]*connSeries
	order []*connSeries
	queue []*queueSeries
}

type connSeries struct {
	host, flow string
	last       tcp.Info
	seen       bool
	d          *decimator[TCPSample]
}

type queueSeries struct {
	link, dir string
	last      impair.QueueState
	seen      bool
	d         *decimator[QueueSample]
}

func newSeriesRecorder(w *sim.World, t0 clock.Time, limit int) *seriesRecorder {
	return &seriesRecorder{t0: t0, clk: w.Clock(), max: limit, conns: map[*tcp.Conn]*connSeries{}}
}

// observeTCP installs the recorder on a host's TCP stack.
func (sr *seriesRecorder) observeTCP(host string, s *tcp.Stack) {
	s.SetObserver(func(c *tcp.Conn) {
		cs := sr.conns[c]
		if cs == nil {
			cs = &connSeries{host: host, flow: c.LocalAddr().String() + "->" + c.RemoteAddr().String(),
				d: newDecimator(sr.max, func(r *TCPSample) float64 { return float64(r.Cwnd) })}
			sr.conns[c] = cs
			sr.order = append(sr.order, cs)
		}
		info := c.Info()
		if cs.seen && info == cs.last {
			return
		}
		cs.seen, cs.last = true, info
		cs.d.add(TCPSample{At: sr.clk.Now().Sub(sr.t0), Host: host, Flow: cs.flow, Info: info})
	})
}

// observeQueue installs the recorder on one direction of a link.
func (sr *seriesRecorder) observeQueue(linkName, dir string, p *impair.Pipe) {
	qs := &queueSeries{link: linkName, dir: dir,
		d: newDecimator(sr.max, func(r *QueueSample) float64 { return float64(r.Packets) })}
	sr.queue = append(sr.queue, qs)
	p.SetQueueObserver(func(now clock.Time, q impair.QueueState) {
		if qs.seen && q == qs.last {
			return
		}
		qs.seen, qs.last = true, q
		qs.d.add(QueueSample{At: now.Sub(sr.t0), Link: linkName, Dir: dir, QueueState: q})
	})
}

// series returns what was recorded, each kind in time order (in order of
// first appearance at the same instant), with the apps' intervals.
func (sr *seriesRecorder) series(apps []AppReport) *Series {
	s := &Series{TCP: []TCPSample{}, Queue: []QueueSample{}, App: []IntervalSample{}}
	for _, cs := range sr.order {
		s.TCP = append(s.TCP, cs.d.rows()...)
	}
	slices.SortStableFunc(s.TCP, func(a, b TCPSample) int { return cmp.Compare(a.At, b.At) })
	for _, qs := range sr.queue {
		s.Queue = append(s.Queue, qs.d.rows()...)
	}
	slices.SortStableFunc(s.Queue, func(a, b QueueSample) int { return cmp.Compare(a.At, b.At) })
	for _, a := range apps {
		for _, iv := range a.Intervals {
			s.App = append(s.App, IntervalSample{Host: a.Host, App: a.Name, Interval: iv})
		}
	}
	slices.SortStableFunc(s.App, func(a, b IntervalSample) int { return cmp.Compare(a.EndNs, b.EndNs) })
	return s
}

// seconds renders d in seconds with nanosecond precision, exactly (no
// floating point), e.g. "1.500000000".
func seconds(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	s := fmt.Sprintf("%d.%09d", d/time.Second, d%time.Second)
	if neg {
		s = "-" + s
	}
	return s
}

// WriteCSV writes the series as DIR/series/{tcp,queue,app}.csv and returns
// the files' paths relative to dir. Each file has a header line and tidy
// columns starting with t_s, the instant in seconds from the start of
// the run.
func (s *Series) WriteCSV(dir string) ([]string, error) {
	sd := filepath.Join(dir, SeriesDir)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return nil, fmt.Errorf("write series: %w", err)
	}
	files := []struct {
		name string
		head string
		n    int
		row  func(b []byte, i int) []byte
	}{
		{TCPSeriesFile, "t_s,host,flow,cwnd,ssthresh,srtt_s,rttvar_s,rto_s,bytes_in_flight,snd_una,snd_nxt,rcv_wnd,retransmits,delivered_bytes", len(s.TCP),
			func(b []byte, i int) []byte {
				r := &s.TCP[i]
				b = append(b, seconds(r.At)...)
				b = append(append(append(b, ','), r.Host...), ',')
				b = append(b, r.Flow...)
				for _, v := range []int64{int64(r.Cwnd), int64(r.Ssthresh)} {
					b = strconv.AppendInt(append(b, ','), v, 10)
				}
				for _, d := range []time.Duration{r.SRTT, r.RTTVar, r.RTO} {
					b = append(append(b, ','), seconds(d)...)
				}
				for _, v := range []uint64{uint64(r.BytesInFlight), uint64(r.SndUna), uint64(r.SndNxt), uint64(r.RcvWnd), r.Retransmits, r.DeliveredBytes} {
					b = strconv.AppendUint(append(b, ','), v, 10)
				}
				return b
			}},
		{QueueSeriesFile, "t_s,link,dir,packets,bytes,sojourn_s", len(s.Queue),
			func(b []byte, i int) []byte {
				r := &s.Queue[i]
				b = append(b, seconds(r.At)...)
				b = append(append(append(append(append(b, ','), r.Link...), ','), r.Dir...), ',')
				b = strconv.AppendInt(b, int64(r.Packets), 10)
				b = strconv.AppendInt(append(b, ','), int64(r.Bytes), 10)
				return append(append(b, ','), seconds(r.Sojourn)...)
			}},
		{AppSeriesFile, "t_s,host,app,start_s,end_s,bytes,bits_per_second", len(s.App),
			func(b []byte, i int) []byte {
				r := &s.App[i]
				b = append(b, seconds(r.EndNs)...)
				b = append(append(append(append(append(b, ','), r.Host...), ','), r.App...), ',')
				b = append(append(append(b, seconds(r.StartNs)...), ','), seconds(r.EndNs)...)
				b = strconv.AppendInt(append(b, ','), r.Bytes, 10)
				return strconv.AppendFloat(append(b, ','), r.BitsPerSecond, 'f', 0, 64)
			}},
	}
	var out []string
	for _, f := range files {
		rel := filepath.Join(SeriesDir, f.name)
		if err := writeCSV(filepath.Join(dir, rel), f.head, f.n, f.row); err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}

func writeCSV(path, head string, n int, row func([]byte, int) []byte) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write series: %w", err)
	}
	w := bufio.NewWriterSize(fh, 64<<10)
	_, _ = w.WriteString(head + "\n")
	var b []byte
	for i := 0; i < n; i++ {
		b = append(row(b[:0], i), '\n')
		_, _ = w.Write(b)
	}
	if err := w.Flush(); err != nil {
		fh.Close()
		return fmt.Errorf("write series %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("write series %s: %w", path, err)
	}
	return nil
}
