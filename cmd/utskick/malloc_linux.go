//go:build linux && cgo

package main

/*
#include <malloc.h>
*/
import "C"

// limitMallocArenas keeps C allocations (SQLite's page caches and
// statements) in one glibc arena. glibc gives each OS thread that
// allocates under contention an arena of its own, up to eight per core,
// and each keeps the pages freed in it; cgo calls run on whichever
// thread the Go scheduler picks. In a 100,000-recipient Ed25519 send on
// SQLite one arena took the peak RSS from 97.2 to 89.4 MB, at the same
// rate. SQLite's writer is one connection at a time anyway.
func limitMallocArenas() {
	C.mallopt(C.M_ARENA_MAX, 1)
}
