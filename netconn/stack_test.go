package netconn

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Stack gives a live loop's hosts the net package's Dial/Listen shape:
// TCP both ways, a connected UDP socket and a packet listener, on the wall
// clock.
func TestStackOnLiveLoop(t *testing.T) {
	lp, a, b := twoHosts(t)
	var opened []io.Closer
	sa := &Stack{Loop: lp, Host: a.h, TCP: a.tcp}
	sb := &Stack{Loop: lp, Host: b.h, TCP: b.tcp, OnOpen: func(c io.Closer) { opened = append(opened, c) }}

	ln, err := sa.Listen("tcp4", ":7")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c)
		_ = c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sb.DialContext(ctx, "tcp", "192.0.2.1:7")
	require.NoError(t, err)
	_, err = io.WriteString(c, "echo")
	require.NoError(t, err)
	require.NoError(t, c.(*Conn).CloseWrite())
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "echo", string(got))
	require.NoError(t, c.Close())

	pc, err := sa.ListenPacket("udp", "192.0.2.1:53")
	require.NoError(t, err)
	defer pc.Close()
	u, err := sb.DialContext(ctx, "udp4", "192.0.2.1:53")
	require.NoError(t, err)
	_, ok := u.(net.PacketConn)
	assert.True(t, ok, "a dialed UDP conn is a net.PacketConn too")
	_, err = u.Write([]byte("q"))
	require.NoError(t, err)
	buf := make([]byte, 8)
	n, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "q", string(buf[:n]))
	assert.Equal(t, u.LocalAddr().(*net.UDPAddr).Port, from.(*net.UDPAddr).Port)
	_, err = pc.WriteTo([]byte("a"), from)
	require.NoError(t, err)
	require.NoError(t, u.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err = u.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "a", string(buf[:n]))
	assert.Equal(t, "192.0.2.1:53", u.RemoteAddr().String())
	require.NoError(t, u.Close())

	assert.Len(t, opened, 2, "OnOpen sees the TCP and the UDP dial")
}
