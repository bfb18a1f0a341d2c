//go:build race

package mailtemplates

// slowdown is how much slower code runs under the race detector, for
// the tests that bound time.
const slowdown = 10

// raceDetector is whether the tests run under the race detector, whose
// cost grows faster than the work it watches: ratios of times mean
// nothing there.
const raceDetector = true
