package scenario

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/app/udpapp"
)

// seriesDoc is a TCP transfer through a 10 Mbit/s bottleneck with a short
// queue and 1% loss: the queue builds, segments are lost and resent.
const seriesDoc = `name: series
seed: 7
duration: 5s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 5ms, a_to_b: {rate: 10Mbit, queue: 30, loss: 1%}}}
apps:
  - {name: rx, type: tcp_recv, host: b, port: 5001, bytes: 400KiB, interval: 100ms}
  - {name: tx, type: tcp_send, host: a, target: 10.0.0.2:5001, bytes: 400KiB, interval: 100ms, start: 10ms}
  - {name: sink, type: udp_sink, host: b, port: 9, interval: 1s}
  - {name: udp, type: udp_send, host: a, target: 10.0.0.2:9, count: 20, size: 100, interval: 100ms}
`

// readCSV reads a series file: its header and rows.
func readCSV(t *testing.T, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	return recs[0], recs[1:]
}

// col returns the index of the named column.
func col(t *testing.T, head []string, name string) int {
	t.Helper()
	for i, h := range head {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %q in %v", name, head)
	return -1
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return v
}

// runSeries runs doc with series on and writes the CSV files into a fresh
// directory, which it returns with the report.
func runSeries(t *testing.T, doc string, limit int) (string, *Report) {
	t.Helper()
	rep, err := Run(mustParse(t, doc), Options{Series: true, SeriesMax: limit})
	require.NoError(t, err)
	require.NotNil(t, rep.Series)
	dir := t.TempDir()
	files, err := rep.Series.WriteCSV(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"series/tcp.csv", "series/queue.csv", "series/app.csv"}, files)
	return dir, rep
}

func TestSeriesCSV(t *testing.T) {
	t.Parallel()
	dir, rep := runSeries(t, seriesDoc, 0)
	require.True(t, rep.Passed)

	t.Run("columns", func(t *testing.T) {
		for _, tc := range []struct{ file, head string }{
			{TCPSeriesFile, "t_s,host,flow,cwnd,ssthresh,srtt_s,rttvar_s,rto_s,bytes_in_flight,snd_una,snd_nxt,rcv_wnd,retransmits,delivered_bytes"},
			{QueueSeriesFile, "t_s,link,dir,packets,bytes,sojourn_s"},
			{AppSeriesFile, "t_s,host,app,start_s,end_s,bytes,bits_per_second"},
		} {
			head, rows := readCSV(t, filepath.Join(dir, SeriesDir, tc.file))
			assert.Equal(t, tc.head, strings.Join(head, ","), tc.file)
			assert.NotEmpty(t, rows, tc.file)
			prev := -1.0
			for _, r := range rows {
				require.Len(t, r, len(head), tc.file)
				ts := num(t, r[0])
				assert.GreaterOrEqual(t, ts, prev, "%s: rows in time order", tc.file)
				prev = ts
			}
		}
	})

	t.Run("retransmits and cwnd drop after a loss", func(t *testing.T) {
		head, rows := readCSV(t, filepath.Join(dir, SeriesDir, TCPSeriesFile))
		host, cwnd, rtx := col(t, head, "host"), col(t, head, "cwnd"), col(t, head, "retransmits")
		dlv := col(t, head, "delivered_bytes")
		var sender [][]string
		for _, r := range rows {
			if r[host] == "a" {
				sender = append(sender, r)
			}
		}
		require.NotEmpty(t, sender)
		first := -1
		peak := 0.0
		for i, r := range sender {
			if num(t, r[rtx]) > 0 {
				first = i
				break
			}
			peak = max(peak, num(t, r[cwnd]))
		}
		require.GreaterOrEqual(t, first, 0, "no retransmission in tcp.csv")
		dropped := false
		for _, r := range sender[first:] {
			if num(t, r[cwnd]) < peak {
				dropped = true
				break
			}
		}
		assert.True(t, dropped, "cwnd never fell below its pre-loss peak %v", peak)
		assert.Equal(t, float64(400<<10), num(t, sender[len(sender)-1][dlv]))
	})

	t.Run("queue builds at the bottleneck", func(t *testing.T) {
		head, rows := readCSV(t, filepath.Join(dir, SeriesDir, QueueSeriesFile))
		link, d, pk, soj := col(t, head, "link"), col(t, head, "dir"), col(t, head, "packets"), col(t, head, "sojourn_s")
		most, longest := 0.0, 0.0
		for _, r := range rows {
			assert.Equal(t, "ab", r[link])
			assert.Equal(t, "a_to_b", r[d], "only the rate-limited direction has a queue")
			most = max(most, num(t, r[pk]))
			longest = max(longest, num(t, r[soj]))
		}
		assert.GreaterOrEqual(t, most, 20.0, "the 30-packet queue filled")
		assert.LessOrEqual(t, most, 30.0)
		assert.Greater(t, longest, 0.015, "20 frames of 1.2 ms wait at the bottleneck")
	})

	t.Run("interval goodput sums to the transfer", func(t *testing.T) {
		head, rows := readCSV(t, filepath.Join(dir, SeriesDir, AppSeriesFile))
		app, by := col(t, head, "app"), col(t, head, "bytes")
		sum := map[string]float64{}
		n := map[string]int{}
		for _, r := range rows {
			sum[r[app]] += num(t, r[by])
			n[r[app]]++
		}
		assert.Equal(t, float64(400<<10), sum["tx"])
		assert.Equal(t, float64(400<<10), sum["rx"])
		assert.Positive(t, sum["sink"])
		assert.Greater(t, n["tx"], 2, "a transfer of several intervals")
		for _, a := range rep.Apps {
			if a.Name == "tx" {
				assert.Equal(t, int64(400<<10), a.Result.(tcpapps.BulkResult).Bytes)
				assert.Len(t, a.Intervals, n["tx"])
			}
			if a.Name == "sink" {
				assert.Equal(t, float64(a.Result.(udpapp.SinkResult).Bytes), sum["sink"])
			}
		}
		var sb bytes.Buffer
		require.NoError(t, rep.WriteSummary(&sb))
		assert.Contains(t, sb.String(), "[   0.010-   0.110 s]")
	})
}

// TestSeriesDeterministic runs the scenario twice with one seed, at
// GOMAXPROCS 1 and 4: the files are byte-identical, and a decimated run
// keeps its bound.
func TestSeriesDeterministic(t *testing.T) {
	for _, limit := range []int{0, 40} {
		prev := runtime.GOMAXPROCS(1)
		d1, _ := runSeries(t, seriesDoc, limit)
		runtime.GOMAXPROCS(4)
		d2, _ := runSeries(t, seriesDoc, limit)
		runtime.GOMAXPROCS(prev)
		for _, f := range []string{TCPSeriesFile, QueueSeriesFile, AppSeriesFile} {
			b1, err := os.ReadFile(filepath.Join(d1, SeriesDir, f))
			require.NoError(t, err)
			b2, err := os.ReadFile(filepath.Join(d2, SeriesDir, f))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(b1, b2), "%s differs between two runs (limit %d)", f, limit)
		}
		if limit > 0 {
			head, rows := readCSV(t, filepath.Join(d1, SeriesDir, TCPSeriesFile))
			flow := col(t, head, "flow")
			per := map[string]int{}
			for _, r := range rows {
				per[r[flow]]++
			}
			require.Len(t, per, 2)
			for f, n := range per {
				assert.LessOrEqual(t, n, limit, f)
				assert.Greater(t, n, limit/4, f)
			}
		}
	}
}

// TestDecimator checks the decimator's bound and that it keeps the first
// and last rows and the extremes.
func TestDecimator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		n     int
		limit int
	}{{"under", 10, 100}, {"over", 10000, 100}, {"odd", 12345, 37}, {"all", 5000, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDecimator(tc.limit, func(v *int) float64 { return float64(*v % 1000) })
			for i := 0; i < tc.n; i++ {
				v := i
				if i == tc.n/3 {
					v = 999 // a spike
				}
				d.add(v)
			}
			got := d.rows()
			if tc.limit == 0 || tc.n <= tc.limit {
				assert.Len(t, got, tc.n)
				return
			}
			assert.LessOrEqual(t, len(got), tc.limit)
			assert.Equal(t, 0, got[0])
			assert.Equal(t, tc.n-1, got[len(got)-1])
			assert.Contains(t, got, 999)
			for i := 1; i < len(got); i++ {
				if got[i] != 999 && got[i-1] != 999 {
					assert.Greater(t, got[i], got[i-1], "in order")
				}
			}
		})
	}
}

// TestObserversLeaveCapturesAlone checks that taking the series, the
// intervals and the per-flow table changes nothing on the wire: the
// captures of a run with them are those of a run without.
func TestObserversLeaveCapturesAlone(t *testing.T) {
	t.Parallel()
	plain := strings.ReplaceAll(seriesDoc, "400KiB, interval: 100ms", "400KiB")
	plain = strings.ReplaceAll(plain, "port: 9, interval: 1s", "port: 9")
	require.NotEqual(t, seriesDoc, plain)
	d1, d2 := t.TempDir(), t.TempDir()
	_, err := Run(mustParse(t, seriesDoc), Options{OutDir: d1, Series: true, Flows: true})
	require.NoError(t, err)
	_, err = Run(mustParse(t, plain), Options{OutDir: d2})
	require.NoError(t, err)
	for _, h := range []string{"a.pcapng", "b.pcapng"} {
		b1, err := os.ReadFile(filepath.Join(d1, h))
		require.NoError(t, err)
		b2, err := os.ReadFile(filepath.Join(d2, h))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(b1, b2), "%s differs", h)
	}
}
