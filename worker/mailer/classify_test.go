package mailer

import (
	"errors"
	"net/textproto"
	"testing"
)

func TestClassifyPolicyRejectionsAreNotHardBounces(t *testing.T) {
	tests := []struct {
		code       int
		msg        string
		class      Class
		hard, poli bool
	}{
		{550, "5.1.1 <a@b.example>: Recipient address rejected: User unknown", Permanent, true, false},
		{550, "Requested action not taken: no such user", Permanent, true, false},
		{552, "5.2.2 Mailbox full", Permanent, false, false},
		{550, "5.7.26 Unauthenticated email from example.se is not accepted due to domain's DMARC policy", Permanent, false, true},
		{554, "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", Permanent, false, true},
		{550, "5.7.606 Access denied, banned sending IP [192.0.2.1]", Permanent, false, true},
		{550, "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent (S3150)", Permanent, false, true},
		{550, "5.7.350 Remote server returned message detected as spam", Permanent, false, true},
		// Sender-side 5.1.x and bare 550s that today's wording list took
		// for a missing mailbox.
		{553, "5.1.8 <bounces@example.se>: Sender address rejected: Domain not found", Permanent, false, true},
		{550, "Sender address rejected: Domain not found", Permanent, false, true},
		{550, "Mailbox unavailable or access denied - blocked using zen.spamhaus.org", Permanent, false, true},
		{554, "Message rejected due to content restrictions", Permanent, false, true},
		{550, "5.4.1 Recipient address rejected: Access denied. AS(201806281)", Permanent, false, false},
		{451, "4.7.1 Greylisted, try again later", Temporary, false, false},
		{421, "4.7.0 Try again later, closing connection", Temporary, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			r := Classify(&textproto.Error{Code: tt.code, Msg: tt.msg})
			if r.Class != tt.class || r.HardBounce != tt.hard || r.Policy != tt.poli {
				t.Errorf("Classify(%d %s) = class %s hard %v policy %v, want %s %v %v",
					tt.code, tt.msg, r.Class, r.HardBounce, r.Policy, tt.class, tt.hard, tt.poli)
			}
		})
	}
	if r := Classify(errors.New("broken pipe")); r.Policy || r.HardBounce || r.Class != Temporary {
		t.Errorf("network error: %+v", r)
	}
}
