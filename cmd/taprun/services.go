package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/stack"
)

// services are the servers taprun runs on the host. Listeners and
// connection goroutines live outside the loop; the UDP sockets live on it.
type services struct {
	r     *taprun
	lns   []net.Listener
	web   *httpapp.Server // runs on the loop
	root  *os.Root        // the directory web serves
	wg    sync.WaitGroup
	once  sync.Once
	conns sync.Map // net.Conn -> struct{}, closed on shutdown
}

// startServices starts every service the options ask for and prints what it
// serves.
func startServices(ctx context.Context, r *taprun, hs httpSpec) (*services, error) {
	s := &services{r: r}
	o := r.o
	fail := func(err error) (*services, error) {
		s.close()
		return nil, err
	}
	if o.echo != 0 {
		if err := s.serveTCP(ctx, "echo", o.echo, s.echoConn); err != nil {
			return fail(err)
		}
		if err := r.call(ctx, func() error { return s.bindUDP("echo", o.echo, echoUDP{}) }); err != nil {
			return fail(err)
		}
		r.log.printf("serving echo on tcp/%d and udp/%d", o.echo, o.echo)
	}
	if o.discard != 0 {
		if err := s.serveTCP(ctx, "discard", o.discard, s.discardConn); err != nil {
			return fail(err)
		}
		r.log.printf("serving discard on tcp/%d", o.discard)
	}
	if hs.port != 0 {
		if err := s.serveHTTP(ctx, hs); err != nil {
			return fail(err)
		}
	}
	if o.dns != 0 {
		if err := s.serveDNS(ctx); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// close stops the listeners and closes open connections, then waits for the
// connection goroutines. It is safe to call more than once.
func (s *services) close() {
	s.once.Do(func() {
		if s.web != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.r.l.Call(ctx, s.web.Close)
			cancel()
		}
		if s.root != nil {
			_ = s.root.Close()
		}
		for _, ln := range s.lns {
			_ = ln.Close()
		}
		s.conns.Range(func(k, _ any) bool {
			_ = k.(net.Conn).Close()
			return true
		})
		s.wg.Wait()
	})
}

// listen opens a TCP listener on the host.
func (s *services) listen(ctx context.Context, name string, port uint16) (net.Listener, error) {
	ln, err := listenTCP(ctx, s.r, port)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on tcp/%d: %w", name, port, err)
	}
	s.lns = append(s.lns, ln)
	return ln, nil
}

// serveTCP accepts connections on port and runs handle for each in its own
// goroutine, logging each connection.
func (s *services) serveTCP(ctx context.Context, name string, port uint16, handle func(name string, c net.Conn)) error {
	ln, err := s.listen(ctx, name, port)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.r.log.printf("%s: connection from %s", name, c.RemoteAddr())
			s.conns.Store(c, struct{}{})
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.conns.Delete(c)
				handle(name, c)
			}()
		}
	}()
	return nil
}

// echoConn sends back everything it reads (RFC 862), then closes once the
// client has closed its side.
func (s *services) echoConn(name string, c net.Conn) {
	n, err := io.Copy(c, c)
	_ = c.Close()
	s.logEnd(name, c, n, "", err)
}

// discardConn reads and throws away everything (RFC 863), logging the
// stream's length and SHA-256 so a client can check it arrived whole.
func (s *services) discardConn(name string, c net.Conn) {
	h := sha256.New()
	n, err := io.Copy(h, c)
	_ = c.Close()
	s.logEnd(name, c, n, fmt.Sprintf(", sha256 %x", h.Sum(nil)), err)
}

// logEnd logs the end of a connection.
func (s *services) logEnd(name string, c net.Conn, n int64, extra string, err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.r.log.printf("%s: connection from %s failed after %d bytes: %v", name, c.RemoteAddr(), n, err)
		return
	}
	s.r.log.printf("%s: connection from %s closed after %d bytes%s", name, c.RemoteAddr(), n, extra)
}

// serveHTTP runs the built-in HTTP server (app/httpapp) on the loop: GET
// and HEAD only (405 with Allow for other methods, 501 for unknown ones),
// 414 for an over-long target, a request with both Transfer-Encoding and
// Content-Length refused and its connection closed (RFC 9112 section 6.1),
// 100 (Continue) for Expect: 100-continue. DIR is opened as an os.Root,
// so neither ".." nor a symlink reaches outside it.
func (s *services) serveHTTP(ctx context.Context, hs httpSpec) error {
	cfg := httpapp.ServerConfig{
		Name: "http", Port: hs.port, NoCache: true,
		OnConn: func(remote netip.AddrPort) { s.r.log.printf("http: connection from %s", remote) },
	}
	if hs.dir != "" {
		root := hs.root
		if root == nil {
			var err error
			if root, err = os.OpenRoot(hs.dir); err != nil {
				return fmt.Errorf("--http: %w", err)
			}
			s.root = root
		}
		cfg.Root = root.FS()
	}
	web, err := httpapp.NewServer(cfg)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	env := &app.Env{Clock: s.r.l.Clock(), TCP: s.r.tcp}
	if err := s.r.call(ctx, func() error { return web.Start(env) }); err != nil {
		return fmt.Errorf("http: listen on tcp/%d: %w", hs.port, err)
	}
	s.web = web
	what := "a built-in page"
	if hs.dir != "" {
		what = hs.dir
	}
	s.r.log.printf("serving http on tcp/%d (%s)", hs.port, what)
	return nil
}

// bindUDP binds a UDP socket on every address of the host. Call it on the
// loop.
func (s *services) bindUDP(name string, port uint16, h stack.UDPHandler) error {
	if _, err := s.r.host.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), h); err != nil {
		return fmt.Errorf("%s: bind udp/%d: %w", name, port, err)
	}
	return nil
}

// echoUDP answers each datagram with itself (RFC 862).
type echoUDP struct{}

// HandleUDP sends payload back to src.
func (echoUDP) HandleUDP(sock *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
	_ = sock.SendTo(src, payload)
}

// dnsUDP answers DNS queries over UDP on the loop.
type dnsUDP struct{ srv *dns.Server }

// HandleUDP answers the query in payload, if it deserves an answer.
func (d dnsUDP) HandleUDP(sock *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
	if resp := d.srv.Answer(payload, dns.UDP); resp != nil {
		_ = sock.SendTo(src, resp)
	}
}

// loadZone reads and parses the --zone file, logging its warnings.
func loadZone(o *options, log *logger) (*dns.Zone, error) {
	f, err := os.Open(o.zone)
	if err != nil {
		return nil, fmt.Errorf("--zone: %w", err)
	}
	z, err := dns.ParseZone(f, o.origin, o.zone)
	_ = f.Close()
	if errors.Is(err, dns.ErrNoOrigin) {
		return nil, fmt.Errorf("--zone: %w; give --zone-origin NAME", err)
	}
	if err != nil {
		return nil, fmt.Errorf("--zone: %w", err)
	}
	for _, w := range z.Warnings {
		log.printf("zone warning: %s", w)
	}
	return z, nil
}

// serveDNS serves the zone over UDP (on the loop) and TCP, loading it
// first unless run already has.
func (s *services) serveDNS(ctx context.Context) error {
	o := s.r.o
	z := s.r.zone
	if z == nil {
		var err error
		if z, err = loadZone(o, s.r.log); err != nil {
			return err
		}
	}
	srv, err := dns.NewServer(z)
	if err != nil {
		return fmt.Errorf("--zone %s: %w", o.zone, err)
	}
	if err := s.r.call(ctx, func() error { return s.bindUDP("dns", o.dns, dnsUDP{srv}) }); err != nil {
		return err
	}
	if err := s.serveTCP(ctx, "dns", o.dns, func(name string, c net.Conn) { s.dnsConn(name, c, srv) }); err != nil {
		return err
	}
	s.r.log.printf("serving dns on udp/%d and tcp/%d (zone %s, %d records)", o.dns, o.dns, z.Origin, len(z.Records))
	return nil
}

// dnsTCPIdle is how long a DNS TCP connection may stay idle (RFC 7766
// section 6.2.3 recommends timeouts of the order of seconds).
const dnsTCPIdle = 10 * time.Second

// dnsConn answers framed queries on a TCP connection (RFC 1035 section
// 4.2.2, RFC 7766) until the client closes or idles out. The server core
// runs on the loop; each answer is copied out before it is written.
func (s *services) dnsConn(name string, c net.Conn, srv *dns.Server) {
	defer c.Close()
	br := bufio.NewReader(c)
	var n int64
	var msg, resp []byte
	var err error
	for {
		_ = c.SetReadDeadline(time.Now().Add(dnsTCPIdle))
		var hdr [2]byte
		if _, err = io.ReadFull(br, hdr[:]); err != nil {
			break
		}
		size := int(binary.BigEndian.Uint16(hdr[:]))
		if size == 0 {
			err = dns.ErrTCPFrame
			break
		}
		if cap(msg) < size {
			msg = make([]byte, size)
		}
		msg = msg[:size]
		if _, err = io.ReadFull(br, msg); err != nil {
			break
		}
		n += int64(2 + size)
		resp = resp[:0]
		if cerr := s.r.l.Call(context.Background(), func() {
			if a := srv.Answer(msg, dns.TCP); a != nil {
				resp, _ = dns.AppendTCPFrame(resp, a)
			}
		}); cerr != nil {
			err = cerr
			break
		}
		if len(resp) == 0 {
			continue
		}
		if _, err = c.Write(resp); err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	s.logEnd(name, c, n, "", err)
}
