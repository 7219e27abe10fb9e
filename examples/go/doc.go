// Package goexamples holds runnable tests of ordinary Go network code on
// simnet's simulated network through package simtest: net/http under loss,
// a TLS 1.3 handshake, a UDP protocol with retries across a partition and a
// TCP client timing out by deadline. Each runs inside a testing/synctest
// bubble, so its simulated seconds and minutes take milliseconds of wall
// time and its captures are the same on every run.
package goexamples
