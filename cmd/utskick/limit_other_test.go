//go:build !linux

package main

import "testing"

func refuseFileWrites(t *testing.T, pid int) (undo func()) {
	t.Skip("making a process's file writes fail needs Linux's prlimit")
	return nil
}
