//go:build race

package e2etest

// RaceEnabled reports whether the race detector is on.
const RaceEnabled = true
