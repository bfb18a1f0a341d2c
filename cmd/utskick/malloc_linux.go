//go:build linux && cgo

package main

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static void fix_mmap_threshold(int n) { mallopt(M_MMAP_THRESHOLD, n); }
#else
static void fix_mmap_threshold(int n) { (void)n; }
#endif
*/
import "C"

// fixMmapThreshold gives glibc a fixed mmap threshold, so that every C
// allocation of at least n bytes is mapped on its own and unmapped when
// it is freed. glibc's default threshold (128 KiB) rises to the size of
// the largest mapped block freed so far, up to 32 MiB, and its trim
// threshold to twice that: after one such block, SQLite's large buffers
// come from the arena of whichever thread the Go scheduler ran the call
// on, and each arena keeps the freed block resident as its untrimmed
// top. A 1,000,000-recipient send held three of them and peaked at 107
// MB; with the threshold fixed it stayed at ~80 MB (docs/benchmarks.md).
// Fixing it also turns the adjustment off, which is the point. Other C
// libraries keep their own policy.
func fixMmapThreshold(n int) {
	C.fix_mmap_threshold(C.int(n))
}
