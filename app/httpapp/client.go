package httpapp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/tcp"
)

// Client defaults and bounds.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMaxResponseBody = 64 << 20
	MaxCount               = 1_000_000
	// maxRecorded bounds the per-response details kept in the result.
	maxRecorded = 100
	clientBuf   = 32 << 10
)

// Errors reported by the client.
var (
	ErrTimeout     = errors.New("httpapp: request timed out")
	ErrClosedEarly = errors.New("httpapp: connection closed before the response was complete")
	ErrBodyTooBig  = errors.New("httpapp: response body too large")
)

// ClientConfig describes an HTTP GET client app.
type ClientConfig struct {
	Name string
	// URL is the http URL to get; its host is an IPv4 literal or a name.
	URL string
	// Count is the number of GETs, sent one after another on a reused
	// connection (default 1, at most MaxCount).
	Count int
	// Interval is the pause between a response and the next request.
	Interval time.Duration
	// Timeout bounds each request, connection and name lookup included
	// (default 30 s).
	Timeout time.Duration
	// MaxBody bounds a response body (default DefaultMaxResponseBody).
	MaxBody int64
	// Resolver resolves the URL's host name; nil uses DNSServers.
	Resolver Resolver
	// DNSServers are the name servers queried with simnet's stub resolver
	// when Resolver is nil.
	DNSServers []netip.AddrPort
}

// ResponseResult is one response the client received.
type ResponseResult struct {
	Status int `json:"status"`
	// Framing is how the body was delimited: "length" (Content-Length),
	// "chunked", "close" (read until the server closed) or "none".
	Framing    string `json:"framing"`
	BodyLength int64  `json:"body_length"`
	BodySHA256 string `json:"body_sha256"`
	// Duration is the time from the request to the complete response
	// (DurationMs in milliseconds, for text).
	Duration   time.Duration `json:"duration_ns"`
	DurationMs float64       `json:"-"`
}

// ClientResult is what an HTTP client app got. Status, BodyLength,
// BodySHA256 and DurationMs describe the last response.
type ClientResult struct {
	URL     string `json:"url"`
	Address string `json:"address,omitempty"`
	// Requests counts complete responses.
	Requests   int           `json:"requests"`
	Status     int           `json:"status"`
	BodyLength int64         `json:"body_length"`
	BodySHA256 string        `json:"body_sha256"`
	Duration   time.Duration `json:"duration_ns"`
	DurationMs float64       `json:"-"`
	// Connections counts TCP connections opened (1 when every request
	// reused the first).
	Connections int `json:"connections"`
	// Done reports that all requests completed.
	Done bool `json:"done"`
	// Total is the time from Start to the last response (TotalMs in
	// milliseconds, for text).
	Total   time.Duration `json:"total_ns"`
	TotalMs float64       `json:"-"`
	// Responses details the first responses (at most 100).
	Responses []ResponseResult `json:"responses"`
	Error     string           `json:"error,omitempty"`
}

type record struct {
	status  int
	framing string
	length  int64
	sum     [sha256.Size]byte
	dur     time.Duration
}

// Client is an HTTP/1.1 GET client app.
type Client struct {
	cfg  ClientConfig
	env  *app.Env
	ts   *tcp.Stack
	host string // URL host without port
	port uint16
	req  []byte // the request, built once

	addr  netip.AddrPort
	conn  *tcp.Conn
	used  bool // conn has carried a complete response
	sent  int  // bytes of req written on conn
	got   bool // response bytes arrived on conn
	retry bool // the current request was retried on a new connection

	in   []byte
	r, w int
	eof  bool

	resp      Response
	inBody    bool
	bodyLeft  int64 // -1: until close
	chunk     chunkDecoder
	h         hash.Hash
	sum       [sha256.Size]byte
	bodyLen   int64
	keepAlive bool
	framing   string

	timer    clock.Timer
	waiting  bool // the timer is the interval pause, not the timeout
	start    clock.Time
	reqStart clock.Time
	last     clock.Time
	records  []record
	lastRec  record
	n        int
	conns    int
	done     bool
	err      error
}

var _ app.App = (*Client)(nil)

// NewClient returns an HTTP client app for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Count == 0 {
		cfg.Count = 1
	}
	if cfg.Count < 1 || cfg.Count > MaxCount {
		return nil, fmt.Errorf("http_get %s: count %d out of range [1, %d]", cfg.Name, cfg.Count, MaxCount)
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("http_get %s: negative interval", cfg.Name)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxResponseBody
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("http_get %s: %w", cfg.Name, err)
	}
	if u.Scheme != "http" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("http_get %s: want an http://host[:port]/path URL, got %q", cfg.Name, cfg.URL)
	}
	c := &Client{cfg: cfg, host: u.Hostname(), port: 80}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("http_get %s: bad port %q", cfg.Name, p)
		}
		c.port = uint16(n)
	}
	if ip, err := netip.ParseAddr(c.host); err == nil && (ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() || ip.Is6() && ip.IsLoopback()) {
		return nil, fmt.Errorf("http_get %s: %s is not a unicast address of a host", cfg.Name, c.host)
	}
	target := u.RequestURI()
	// RFC 9112 section 3.2: Host carries the authority of the target URI.
	c.req = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: simnet\r\nAccept: */*\r\n\r\n", target, u.Host)
	return c, nil
}

// Name returns the app's name.
func (c *Client) Name() string { return c.cfg.Name }

// Start resolves the host and sends the first request.
func (c *Client) Start(env *app.Env) error {
	ts, err := tcpOf(env)
	if err != nil {
		return fmt.Errorf("http_get %s: %w", c.cfg.Name, err)
	}
	c.env, c.ts = env, ts
	c.h = sha256.New()
	c.in = make([]byte, clientBuf)
	c.records = make([]record, 0, min(c.cfg.Count, maxRecorded))
	c.timer.Init(clock.HandlerFunc(c.onTimer))
	c.start = env.Clock.Now()
	c.reqStart = c.start
	c.arm(c.cfg.Timeout)
	if ip, err := netip.ParseAddr(c.host); err == nil {
		c.addr = netip.AddrPortFrom(ip, c.port)
		c.next()
		return nil
	}
	res := c.cfg.Resolver
	if res == nil {
		if len(c.cfg.DNSServers) == 0 {
			return fmt.Errorf("http_get %s: host %q is a name and no resolver or DNS server is configured", c.cfg.Name, c.host)
		}
		d, err := NewDNSResolver(env, c.cfg.DNSServers...)
		if err != nil {
			return fmt.Errorf("http_get %s: %w", c.cfg.Name, err)
		}
		res = d
	}
	res.Resolve(c.host, func(a netip.Addr, err error) {
		if c.done {
			return
		}
		switch {
		case err != nil:
			c.fail(err)
		case !a.IsValid():
			c.fail(fmt.Errorf("resolve %s: %w", c.host, ErrNoAddress))
		default:
			c.addr = netip.AddrPortFrom(a, c.port)
			c.next()
		}
	})
	return nil
}

// Done reports that the client has finished: every request completed or
// an error ended it.
func (c *Client) Done() bool { return c.done }

// Err returns the error that ended the client, if any.
func (c *Client) Err() error { return c.err }

// Completed returns the number of complete responses so far.
func (c *Client) Completed() int { return c.n }

// Result returns what the client got so far.
func (c *Client) Result() any {
	r := ClientResult{
		URL: c.cfg.URL, Requests: c.n, Connections: c.conns, Done: c.done && c.err == nil,
		Responses: make([]ResponseResult, len(c.records)),
	}
	if c.addr.IsValid() {
		r.Address = c.addr.String()
	}
	for i, rec := range c.records {
		r.Responses[i] = rec.result()
	}
	if c.n > 0 {
		last := c.lastRec.result()
		r.Status, r.BodyLength, r.BodySHA256, r.DurationMs = last.Status, last.BodyLength, last.BodySHA256, last.DurationMs
		r.Duration = last.Duration
		r.Total = c.last.Sub(c.start)
		r.TotalMs = ms(r.Total)
	}
	if c.err != nil {
		r.Error = c.err.Error()
	}
	return r
}

func (rec record) result() ResponseResult {
	return ResponseResult{Status: rec.status, Framing: rec.framing, BodyLength: rec.length, BodySHA256: hex.EncodeToString(rec.sum[:]), Duration: rec.dur, DurationMs: ms(rec.dur)}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (c *Client) arm(d time.Duration) {
	c.env.Clock.Schedule(&c.timer, c.env.Clock.Now().Add(d))
}

func (c *Client) onTimer(now clock.Time) {
	if c.done {
		return
	}
	if c.waiting {
		c.waiting = false
		c.reqStart = now
		c.arm(c.cfg.Timeout)
		c.next()
		return
	}
	c.fail(fmt.Errorf("GET %s: %w", c.cfg.URL, ErrTimeout))
}

// fail ends the run with err.
func (c *Client) fail(err error) {
	if c.done {
		return
	}
	c.done, c.err = true, err
	c.env.Clock.Cancel(&c.timer)
	c.dropConn(true)
}

func (c *Client) dropConn(abort bool) {
	if c.conn == nil {
		return
	}
	conn := c.conn
	c.conn = nil
	conn.SetEvents(nil)
	if abort {
		conn.Abort()
	} else {
		_ = conn.Close()
	}
}

// next sends the next request, connecting first if needed.
func (c *Client) next() {
	c.resetResponse()
	c.sent = 0
	if c.conn == nil {
		c.used, c.got = false, false
		c.r, c.w, c.eof = 0, 0, false
		conn, err := c.ts.Connect(netip.AddrPort{}, c.addr, c)
		if err != nil {
			c.fail(fmt.Errorf("GET %s: %w", c.cfg.URL, err))
			return
		}
		c.conns++
		c.conn = conn
		conn.SetNoDelay(true)
		return // the request goes out in OnEstablished
	}
	c.write()
}

func (c *Client) resetResponse() {
	c.inBody = false
	c.h.Reset()
	c.bodyLen = 0
}

func (c *Client) write() {
	for c.conn != nil && c.sent < len(c.req) {
		n, err := c.conn.Write(c.req[c.sent:])
		c.sent += n
		if err != nil {
			if !errors.Is(err, tcp.ErrWouldBlock) {
				c.connLost(err)
			}
			return
		}
	}
}

// OnEstablished implements tcp.Events.
func (c *Client) OnEstablished(conn *tcp.Conn) {
	if conn == c.conn {
		c.write()
	}
}

// OnWritable implements tcp.Events.
func (c *Client) OnWritable(conn *tcp.Conn) {
	if conn == c.conn {
		c.write()
	}
}

// OnClosed implements tcp.Events.
func (c *Client) OnClosed(conn *tcp.Conn, err error) {
	if conn != c.conn {
		return
	}
	c.conn = nil
	if err == nil {
		err = ErrClosedEarly
	}
	c.connLost(err)
}

// OnReadable implements tcp.Events.
func (c *Client) OnReadable(conn *tcp.Conn) {
	for conn == c.conn && !c.done {
		if c.r == c.w {
			c.r, c.w = 0, 0
		} else if c.w == len(c.in) && c.r > 0 {
			c.w = copy(c.in, c.in[c.r:c.w])
			c.r = 0
		}
		n, err := conn.Read(c.in[c.w:])
		c.w += n
		if n > 0 {
			c.got = true
		}
		progress := c.process()
		switch {
		case err == nil:
			if n == 0 && !progress {
				return
			}
		case errors.Is(err, tcp.ErrWouldBlock):
			if !progress {
				return
			}
		case errors.Is(err, io.EOF):
			c.eof = true
			c.process()
			if conn == c.conn && !c.done {
				c.connLost(ErrClosedEarly)
			}
			return
		default:
			c.connLost(err)
			return
		}
	}
}

// connLost handles the end of the connection before the response was
// complete: a close-delimited body ends there; a request on a reused
// connection that got nothing back is retried once on a new one (GET is
// idempotent, RFC 9110 section 9.2.2); anything else fails.
func (c *Client) connLost(err error) {
	if c.done {
		return
	}
	if c.inBody && c.bodyLeft < 0 && !c.resp.Chunked && errors.Is(err, ErrClosedEarly) {
		c.dropConn(false)
		c.complete()
		return
	}
	if c.used && !c.got && !c.retry {
		c.retry = true
		c.dropConn(true)
		c.next()
		return
	}
	c.fail(fmt.Errorf("GET %s: %w", c.cfg.URL, err))
}

// process parses buffered input and reports whether it consumed any.
func (c *Client) process() bool {
	progress := false
	for c.r < c.w && !c.done && c.conn != nil {
		if !c.inBody {
			n, err := ParseResponse(c.in[c.r:c.w], &c.resp, DefaultMaxResponseHeader)
			if err == ErrIncomplete {
				if c.w-c.r >= len(c.in) {
					c.fail(fmt.Errorf("GET %s: %w: head too large", c.cfg.URL, ErrMalformedResponse))
				}
				return progress
			}
			if err != nil {
				c.fail(fmt.Errorf("GET %s: %w", c.cfg.URL, err))
				return progress
			}
			c.r += n
			progress = true
			if c.resp.Status < 200 {
				// Interim responses are skipped (RFC 9110 section 15.2).
				continue
			}
			c.inBody = true
			c.keepAlive = c.resp.KeepAlive
			c.chunk.reset()
			switch {
			case !c.resp.HasBody("GET"):
				c.bodyLeft, c.framing = 0, "none"
			case c.resp.Chunked:
				c.framing = "chunked"
			case c.resp.ContentLength >= 0:
				c.bodyLeft, c.framing = c.resp.ContentLength, "length"
			default:
				// Until the server closes (RFC 9112 section 6.3 item 8).
				c.bodyLeft, c.framing = -1, "close"
				c.keepAlive = false
			}
			if c.resp.ContentLength > c.cfg.MaxBody {
				c.fail(fmt.Errorf("GET %s: %w", c.cfg.URL, ErrBodyTooBig))
				return progress
			}
		}
		if !c.body() {
			return true
		}
		progress = true
	}
	return progress
}

// body consumes body bytes and reports whether the response completed.
func (c *Client) body() bool {
	if c.resp.Chunked {
		for c.r < c.w && !c.chunk.done() {
			n, data, err := c.chunk.next(c.in[c.r:c.w])
			c.r += n
			if !c.take(data) {
				return false
			}
			if err != nil {
				c.fail(fmt.Errorf("GET %s: %w: %w", c.cfg.URL, ErrMalformedResponse, err))
				return false
			}
		}
		if !c.chunk.done() {
			return false
		}
	} else if c.bodyLeft != 0 {
		data := c.in[c.r:c.w]
		if c.bodyLeft > 0 && int64(len(data)) > c.bodyLeft {
			data = data[:c.bodyLeft]
		}
		c.r += len(data)
		if c.bodyLeft > 0 {
			c.bodyLeft -= int64(len(data))
		}
		if !c.take(data) || c.bodyLeft != 0 {
			return false
		}
	}
	c.complete()
	return true
}

// take adds body bytes and reports whether they fit the limit.
func (c *Client) take(data []byte) bool {
	c.bodyLen += int64(len(data))
	if c.bodyLen > c.cfg.MaxBody {
		c.fail(fmt.Errorf("GET %s: %w", c.cfg.URL, ErrBodyTooBig))
		return false
	}
	c.h.Write(data)
	return true
}

// complete records a response and moves to the next request.
func (c *Client) complete() {
	now := c.env.Clock.Now()
	rec := record{status: c.resp.Status, framing: c.framing, length: c.bodyLen, dur: now.Sub(c.reqStart)}
	c.h.Sum(c.sum[:0])
	rec.sum = c.sum
	c.lastRec = rec
	if len(c.records) < maxRecorded {
		c.records = append(c.records, rec)
	}
	c.n++
	c.last = now
	c.inBody = false
	c.used, c.got, c.retry = true, false, false
	if c.n >= c.cfg.Count {
		c.done = true
		c.env.Clock.Cancel(&c.timer)
		c.dropConn(false)
		return
	}
	if !c.keepAlive {
		c.dropConn(false)
	}
	if c.cfg.Interval > 0 {
		c.waiting = true
		c.arm(c.cfg.Interval)
		return
	}
	c.reqStart = now
	c.arm(c.cfg.Timeout)
	c.next()
}
