//go:build !race

package tests

// tcpRaceEnabled reports whether the race detector is on.
const tcpRaceEnabled = false
