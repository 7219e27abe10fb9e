// Package rng derives independent, reproducible random sources from a run's
// seed and a consumer's name.
//
// Every consumer (a host's ISNs and ports, a DHCP client's xids, a link
// direction's loss draws) asks for its own source by a stable name, so adding
// a host or a link does not change any other consumer's draws. Protocol code
// never uses the global random source.
package rng

import (
	"hash/fnv"
	"math/rand/v2"
)

// New returns a PCG-backed generator determined only by seed and name.
func New(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	k := h.Sum64()
	return rand.New(rand.NewPCG(mix(seed^k), mix(k+0x9e3779b97f4a7c15)))
}

// mix is SplitMix64's finaliser: it spreads nearby inputs across 64 bits.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
