package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/storsthlm/utskick/store"
)

var linkRE = regexp.MustCompile(`https://nyhetsbrev\.example\.se/admin/password/([A-Za-z0-9_-]{43})`)

func usersEnv(dir string) func(string) string {
	env := map[string]string{"UTSKICK_DATA_DIR": dir, "UTSKICK_BASE_URL": "https://nyhetsbrev.example.se"}
	return func(k string) string { return env[k] }
}

// TestUsersCommandAddsAUserAndPrintsAWorkingLink: `utskick users add`
// makes an invited user and prints a one-time link under
// UTSKICK_BASE_URL that sets the password; `list` shows the user; a
// second add of the address says how to get a new link.
func TestUsersCommandAddsAUserAndPrintsAWorkingLink(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"users", "add", "Chef@Example.se", "--role", "admin", "--name", "Chefen", "--lang", "en"}, &out, &errOut, usersEnv(dir))
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut.String())
	}
	m := linkRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no link in %q", out.String())
	}
	cfg, _ := loadConfig(usersEnv(dir))
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok, u, err := st.UserTokenBySecret(ctx, m[1])
	if err != nil || tok.Purpose != store.PurposeInvite || u.Email != "chef@example.se" || u.Role != store.RoleAdmin || u.Name != "Chefen" || u.Lang != "en" {
		t.Fatalf("the printed link: %v %+v %+v", err, tok, u)
	}
	out.Reset()
	if code := run(ctx, []string{"users", "list"}, &out, &errOut, usersEnv(dir)); code != 0 || !strings.Contains(out.String(), "chef@example.se") || !strings.Contains(out.String(), "invited") {
		t.Fatalf("list: exit %d\n%s", code, out.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"users", "add", "chef@example.se", "--role", "viewer"}, &out, &errOut, usersEnv(dir)); code != 1 || !strings.Contains(errOut.String(), "users link chef@example.se") {
		t.Fatalf("second add: exit %d: %s", code, errOut.String())
	}
	// A new link voids the first one.
	out.Reset()
	if code := run(ctx, []string{"users", "link", "chef@example.se"}, &out, &errOut, usersEnv(dir)); code != 0 {
		t.Fatalf("link: exit %d: %s", code, errOut.String())
	}
	if _, _, err := st.UserTokenBySecret(ctx, m[1]); err == nil {
		t.Fatal("the first link still works after `users link`")
	}
	for _, bad := range [][]string{{"users"}, {"users", "add", "x@example.se"}, {"users", "add", "x@example.se", "--role", "owner"}, {"users", "frob"}} {
		if code := run(ctx, bad, &out, &errOut, usersEnv(dir)); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

// TestFirstStartPrintsASetupLinkOnce: with no users the start prints a
// link that makes the first admin; a restart while it still works prints
// nothing more, and neither does a start once someone exists.
func TestFirstStartPrintsASetupLinkOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg, _ := loadConfig(usersEnv(dir))
	cfg.DatabaseURL = "sqlite:" + filepath.Join(dir, "u.db")
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	if err := bootstrapUsers(ctx, st, cfg, log, &out); err != nil {
		t.Fatal(err)
	}
	m := linkRE.FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "First start") {
		t.Fatalf("first start printed %q", out.String())
	}
	out.Reset()
	if err := bootstrapUsers(ctx, st, cfg, log, &out); err != nil || out.Len() != 0 {
		t.Fatalf("second start printed %q (%v)", out.String(), err)
	}
	if _, err := st.UseUserToken(ctx, m[1], store.SetPassword{Password: "första lösenordet", Email: "chef@example.se"}, store.Actor{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := bootstrapUsers(ctx, st, cfg, log, &out); err != nil || out.Len() != 0 {
		t.Fatalf("start with a user printed %q (%v)", out.String(), err)
	}
}
