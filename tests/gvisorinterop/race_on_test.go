//go:build race

package gvisorinterop

// tcpRaceEnabled reports whether the race detector is on: the interop
// transfers then shrink from 20 MB to 1 MB (unless SIMNET_FULL_INTEROP=1)
// to keep `make test` within minutes.
const tcpRaceEnabled = true
