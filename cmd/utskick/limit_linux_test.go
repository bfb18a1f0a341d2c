package main

import (
	"syscall"
	"testing"
	"unsafe"
)

// refuseFileWrites makes every file write of process pid fail (its
// RLIMIT_FSIZE soft limit goes to 0: a write fails with EFBIG, the way a
// full disk fails one with ENOSPC), as from outside; reads go on. It
// returns the undo.
func refuseFileWrites(t *testing.T, pid int) (undo func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, nil, &old); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 0, Max: old.Max}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	return func() {
		if err := prlimit(pid, syscall.RLIMIT_FSIZE, &old, nil); err != nil && err != syscall.ESRCH {
			t.Errorf("prlimit: %v", err)
		}
	}
}

func prlimit(pid, resource int, set, old *syscall.Rlimit) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource),
		uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(old)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
