package store

import (
	"strings"
	"testing"
)

func TestPasswordHashRoundTripAndTamperedCostsAreRefused(t *testing.T) {
	h, err := hashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(h, "correct horse") || checkPassword(h, "correct horsE") {
		t.Fatal("round trip")
	}
	other, _ := hashPassword("correct horse")
	if other == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	// A row edited to ask for 4 GiB per check must not be run.
	parts := strings.Split(h, "$")
	for _, cost := range []string{"m=4194304,t=2,p=1", "m=19456,t=100,p=1", "m=19456,t=2,p=200", "m=19456,t=2", "x=1,t=2,p=1"} {
		bad := strings.Join([]string{"", parts[1], parts[2], cost, parts[4], parts[5]}, "$")
		if _, _, _, err := parsePHC(bad); err == nil {
			t.Errorf("%s accepted", cost)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "plain"} {
		if checkPassword(bad, "") {
			t.Errorf("%q verified", bad)
		}
	}
}
