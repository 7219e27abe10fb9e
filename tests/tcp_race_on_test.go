//go:build race

package tests

// tcpRaceEnabled reports whether the race detector is on: the bulk
// transfers of the TCP tshark test then shrink to keep `make test` within
// minutes.
const tcpRaceEnabled = true
