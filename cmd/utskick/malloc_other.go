//go:build !linux || !cgo

package main

func limitMallocArenas() {}
