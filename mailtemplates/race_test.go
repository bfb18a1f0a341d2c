//go:build race

package mailtemplates

// slowdown is how much slower code runs under the race detector, for
// the tests that bound time.
const slowdown = 10
