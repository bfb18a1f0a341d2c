//go:build !linux || !cgo

package main

// fixMmapThreshold is glibc's; other C libraries keep their own policy.
func fixMmapThreshold(int) {}
