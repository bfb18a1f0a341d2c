package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The image's data dir holds the database, the secret and captured mail:
// whatever makes /data must leave it closed to other users.
func TestDockerfileDataDirIsPrivate(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?:install -d -m |chmod )(0?[0-7]{3})\b[^\n]*/data\b`).FindAllStringSubmatch(string(b), -1)
	if m == nil {
		t.Fatal("the Dockerfile sets no mode on /data (mkdir alone makes it 0755)")
	}
	last := m[len(m)-1][1]
	mode, _ := strconv.ParseUint(last, 8, 32)
	if mode&0o007 != 0 {
		t.Fatalf("/data is made %s: open to other users", last)
	}
}
