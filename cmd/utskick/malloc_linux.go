//go:build linux && cgo

package main

/*
#include <malloc.h>
*/
import "C"

// limitMallocArenas keeps C allocations (SQLite's page caches and
// statements) in two glibc arenas. glibc gives each OS thread that
// allocates under contention an arena of its own, up to eight per core,
// and each keeps the pages freed in it; cgo calls run on whichever
// thread the Go scheduler picks, so a fast send spreads SQLite over many.
// A 1,000,000-recipient send with BDAT peaked at 102.6 and 105.0 MB with
// glibc's default and at 92.1 MB with two arenas, at the same rate and
// CPU; one arena was worse (110 MB and 30 % more CPU at 1,000,000 with
// DATA: every SQLite call then queues on one lock).
func limitMallocArenas() {
	C.mallopt(C.M_ARENA_MAX, 2)
}
