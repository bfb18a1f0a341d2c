//go:build !race

package mailtemplates

const slowdown = 1

const raceDetector = false
