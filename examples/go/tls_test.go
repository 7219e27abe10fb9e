// The module declares go 1.25, under which crypto functions still read the
// random source they are passed and, to stop callers relying on that, skip
// one byte of it at random (randutil.MaybeReadByte). Go 1.26's behaviour
// ignores it and always reads the global source, which
// cryptotest.SetGlobalRandom makes deterministic.
//
//go:debug cryptocustomrand=0

package goexamples

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
)

// selfSigned makes a certificate for name, signed by its own Ed25519 key,
// valid from now (the bubble's clock) for a day. The key comes from a
// fixed seed and Ed25519 signatures are deterministic (RFC 8032 section
// 5.1.6), so the certificate is the same on every run; an ECDSA signature
// would not be.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	seed := sha256.Sum256([]byte("simnet example key for " + name))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// tlsHandshake runs a TLS 1.3 handshake with crypto/tls over a 50 ms link
// that drops 2% of the frames, verifies the server's self-signed
// certificate and exchanges a message each way.
func tlsHandshake(t *testing.T, w *simtest.World) {
	srv := w.Host("server", "192.0.2.1/24")
	cli := w.Host("client", "192.0.2.2/24")
	w.Link(srv, cli, impair.Config{Loss: 0.02, Delay: 50 * time.Millisecond})
	cert, pool := selfSigned(t, "server.example.test")

	ln, err := srv.Listen("tcp", ":443")
	require.NoError(t, err)
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	go func() {
		c, err := tln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		_, _ = c.Write(append([]byte("hello, "), buf[:n]...))
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := cli.DialContext(ctx, "tcp", "192.0.2.1:443")
	require.NoError(t, err)
	start := time.Now()
	c := tls.Client(raw, &tls.Config{ServerName: "server.example.test", RootCAs: pool, MinVersion: tls.VersionTLS13})
	require.NoError(t, c.HandshakeContext(ctx))
	handshake := time.Since(start)
	st := c.ConnectionState()
	assert.Equal(t, uint16(tls.VersionTLS13), st.Version)
	require.Len(t, st.PeerCertificates, 1)
	assert.Equal(t, "server.example.test", st.PeerCertificates[0].Subject.CommonName)
	// A TLS 1.3 handshake takes one round trip (RFC 8446 section 2): at
	// least 100 ms on this link, more when a frame was lost.
	assert.GreaterOrEqual(t, handshake, 100*time.Millisecond)

	_, err = c.Write([]byte("simnet"))
	require.NoError(t, err)
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "hello, simnet", string(got))
	require.NoError(t, c.Close())
}

// TestTLS13Handshake is not parallel: cryptotest.SetGlobalRandom makes
// crypto/rand (the key, the handshake's randoms and key shares)
// deterministic for the whole process, so the captures are the same on
// every run.
func TestTLS13Handshake(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	_, simulated, wall := runExample(t, 1, tlsHandshake)
	checkTimes(t, simulated, wall, 100*time.Millisecond)
}
