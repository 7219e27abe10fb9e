//go:build !race

package gvisorinterop

// tcpRaceEnabled reports whether the race detector is on.
const tcpRaceEnabled = false
