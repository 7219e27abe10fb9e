// Package gvisorinterop holds the gVisor interop matrices (simnet's TCP
// against gVisor's netstack, IPv4 and IPv6, under every link condition).
// They live apart from the tests/ package so that `make test` can run them
// at full size (20 MB) without the race detector by compiling only gVisor
// and simnet's protocol packages, not every dependency of tests/ a second
// time.
package gvisorinterop
