//go:build race

package main

// raceDetector is whether the tests run under the race detector, whose
// runtime brings its own malloc: glibc's settings do nothing there.
const raceDetector = true
