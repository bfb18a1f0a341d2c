package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
)

// TestMediaUsesRenameAndDelete: the campaigns and templates that link to
// an image are found by its public path (another image whose id starts
// the same is not matched), templates and non-drafts first; a delete is
// refused while a template or a campaign other than a draft (or one
// cancelled before it started) links to it, naming it; a row sharing its
// bytes keeps the bucket's object; a rename keeps the file name.
func TestMediaUsesRenameAndDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sum := strings.Repeat("c", 64)
		mk := func(name string) *store.Media {
			m := &store.Media{Name: name, ContentType: "image/png", Width: 2, Height: 2, Size: 0, SHA256: sum, Storage: store.MediaInS3}
			if err := s.CreateMedia(ctx, m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		a, b := mk("karta.png"), mk("karta-kopia.png")
		if a.Title != "karta.png" || a.Storage != store.MediaInS3 {
			t.Fatalf("created %+v", a)
		}
		l := &store.List{Slug: "nytt", Name: "Nytt", Language: "sv", Optin: store.OptinDouble}
		if err := s.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		camp := func(name, body string) *store.Campaign {
			c := &store.Campaign{Name: name, Subject: "Hej", Body: body, ListIDs: []int64{l.ID}}
			if err := s.CreateCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		draft := camp("Utkast", fmt.Sprintf("![Karta](https://x.example/media/%d/karta.png)", a.ID))
		sched := camp("April", fmt.Sprintf("![Karta](https://x.example/media/%d/karta.png)", a.ID))
		camp("Annan", fmt.Sprintf("![Karta](https://x.example/media/%d1/karta.png)", a.ID))
		if _, err := s.ScheduleCampaign(ctx, sched.ID, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		uses, err := s.MediaUsedBy(ctx, a.ID)
		if err != nil || len(uses) != 2 || uses[0].ID != sched.ID || !uses[0].Blocking() || uses[1].ID != draft.ID || uses[1].Blocking() {
			t.Fatalf("uses %+v %v", uses, err)
		}
		_, _, err = s.DeleteMedia(ctx, a.ID)
		var inUse *store.MediaInUseError
		if !errors.As(err, &inUse) || !errors.Is(err, store.ErrConflict) || len(inUse.Uses) != 1 || !strings.Contains(err.Error(), `"April"`) {
			t.Fatalf("delete of a scheduled campaign's image: %v", err)
		}
		title, alt := "Karta över Solna", "Karta"
		m, err := s.UpdateMedia(ctx, a.ID, store.MediaEdit{Title: &title, Alt: &alt})
		if err != nil || m.Title != title || m.Alt != alt || m.Name != "karta.png" {
			t.Fatalf("rename: %+v %v", m, err)
		}
		// b shares a's bytes and nothing links to it.
		got, unused, err := s.DeleteMedia(ctx, b.ID)
		if err != nil || got.ID != b.ID || unused {
			t.Fatalf("delete of the twin: %+v unused=%v %v", got, unused, err)
		}
		if _, _, err := s.DeleteMedia(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		// A template with the image as its logo keeps it too.
		tp := &store.Template{Name: "Med logga", HTML: fmt.Sprintf(`<img src="https://x.example/media/%d/karta.png" alt="Logga">{{ .Content }}`, a.ID), CompiledHTML: "x"}
		if err := s.CreateTemplate(ctx, tp); err != nil {
			t.Fatal(err)
		}
		if uses, err := s.MediaUsedBy(ctx, a.ID); err != nil || len(uses) != 3 || uses[0].Kind != "template" || uses[0].ID != tp.ID || !uses[0].Blocking() || uses[1].Kind != "campaign" {
			t.Fatalf("uses with a template %+v %v", uses, err)
		}
		if _, _, err := s.DeleteMedia(ctx, a.ID); err == nil || !strings.Contains(err.Error(), `template "Med logga"`) {
			t.Fatalf("delete of a template's logo: %v", err)
		}
		if err := s.DeleteTemplate(ctx, tp.ID); err != nil {
			t.Fatal(err)
		}
		// Cancelled before it started: no mail went out, nothing links.
		if _, err := s.CancelCampaign(ctx, sched.ID); err != nil {
			t.Fatal(err)
		}
		if _, unused, err := s.DeleteMedia(ctx, a.ID); err != nil || !unused {
			t.Fatalf("delete with a draft and a campaign cancelled unsent: unused=%v %v", unused, err)
		}
	})
}
