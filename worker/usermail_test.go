package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestUserMailLandsInTheOutboxWithAWorkingLink: an invitation and a reset
// go through the worker's own mail path to the embedded capture; the link
// in the mail opens the set-password step, and a second mail voids the
// first mail's link.
func TestUserMailLandsInTheOutboxWithAWorkingLink(t *testing.T) {
	st := storetest.Open(t)
	e := newEnv(t, st, nil)
	ctx := context.Background()
	admin := &store.User{Email: "chef@example.se", Name: "Chefen", Role: store.RoleAdmin}
	u := &store.User{Email: "ny@example.se", Role: store.RoleEditor, Lang: "en"}
	for _, x := range []*store.User{admin, u} {
		if err := st.CreateUser(ctx, x, store.Actor{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	linkRE := regexp.MustCompile(`http://127\.0\.0\.1:8080/admin/password/([A-Za-z0-9_-]{43})`)
	mails := func() []string {
		files, _ := filepath.Glob(filepath.Join(e.outDir, "*.eml"))
		var out []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			out = append(out, strings.ReplaceAll(string(b), "=\r\n", ""))
		}
		return out
	}
	task := queue.NewUserMailTask(queue.UserMailPayload{UserID: u.ID, Purpose: store.PurposeInvite, ByUserID: admin.ID})
	if err := e.h.Process(ctx, task); err != nil {
		t.Fatal(err)
	}
	got := mails()
	if len(got) != 1 || !strings.Contains(got[0], "To: <ny@example.se>") || !strings.Contains(got[0], "Chefen has invited you") {
		t.Fatalf("invitation: %q", got)
	}
	first := linkRE.FindStringSubmatch(got[0])
	if first == nil {
		t.Fatalf("no link in %s", got[0])
	}
	if _, tu, err := st.UserTokenBySecret(ctx, first[1]); err != nil || tu.ID != u.ID {
		t.Fatalf("the mailed link: %v", err)
	}
	// Sent again (a resend, or asynq's retry): the newest link works.
	if err := e.h.Process(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UserTokenBySecret(ctx, first[1]); err == nil {
		t.Fatal("the first link still works after a second mail")
	}
	// Once the password is set, a late invitation task sends nothing.
	got = mails()
	var second []string
	for _, m := range got {
		if l := linkRE.FindStringSubmatch(m); l != nil && l[1] != first[1] {
			second = l
		}
	}
	if second == nil {
		t.Fatal("no second link")
	}
	if _, err := st.UseUserToken(ctx, second[1], store.SetPassword{Password: "mitt nya lösen"}, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Process(ctx, task); err != nil {
		t.Fatal(err)
	}
	if n := len(mails()); n != 2 {
		t.Fatalf("%d mails after an invitation to an active user, want 2", n)
	}
	reset := queue.NewUserMailTask(queue.UserMailPayload{UserID: u.ID, Purpose: store.PurposeReset})
	if err := e.h.Process(ctx, reset); err != nil {
		t.Fatal(err)
	}
	if got := mails(); len(got) != 3 {
		t.Fatalf("%d mails after a reset, want 3", len(got))
	}
}
