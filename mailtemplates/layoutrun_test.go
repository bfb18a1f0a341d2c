package mailtemplates

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// minimalLayout wraps extra in the least a layout must have.
func minimalLayout(extra string) string {
	return `<!doctype html><html lang="{{.ContentLang}}"><body>` + extra +
		`{{.Content}}<p><a href="{{.UnsubscribeURL}}">{{.T.Unsubscribe}}</a></p></body></html>`
}

// Issue 10 item 12: a staff template's run had no bound; nested loops
// were saved after 14.5 s and 200 MB. Each way of making a layout run
// long or write much is refused at save within a few seconds, naming the
// html field.
func TestRunawayLayoutsAreRefusedAtSave(t *testing.T) {
	tm := testTemplates(t)
	cases := map[string]string{
		"20 million x":                 `{{range 10000}}{{range 2000}}x{{end}}{{end}}`,
		"loops that write nothing":     `{{range 100000}}{{range 100000}}{{end}}{{end}}`,
		"exponential template calls":   `{{define "a"}}{{template "b"}}{{template "b"}}{{end}}{{define "b"}}{{template "c"}}{{template "c"}}{{end}}{{define "c"}}{{range 1000}}{{end}}{{end}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}{{template "a"}}`,
		"recursion":                    `{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`,
		"a megabyte of printf padding": `{{range 50}}{{printf "%900000d" 1}}{{end}}`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := within(t, 10*time.Second, func() error {
				_, _, err := tm.PrepareLayout("t", minimalLayout(src), ThemeColors{})
				return err
			})
			var le *LayoutError
			if !errors.As(err, &le) || le.Field != "html" {
				t.Fatalf("got %v, want a layout error naming html", err)
			}
			t.Logf("refused in %v: %s", time.Since(start).Round(time.Millisecond), le.Msg)
		})
	}
}

// Loops and calls that do little are still fine: the bounds are far
// above what a mail frame needs.
func TestOrdinaryLoopsInLayoutsRun(t *testing.T) {
	tm := testTemplates(t)
	src := minimalLayout(`{{define "sep"}}<hr>{{end}}{{range 20}}{{template "sep"}}{{end}}{{range $i := 5}}{{if eq $i 1}}{{break}}{{end}}<i>{{end}}{{block "foot" .}}<p>{{.Org}}</p>{{end}}`)
	_, l, err := tm.PrepareLayout("t", src, ThemeColors{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: "Hej", Layout: l, Org: "Förbundet"})
	if err != nil {
		t.Fatal(err)
	}
	html := c.HTML(testRecipient("sv"))
	if strings.Count(html, "<hr>") != 20 || strings.Count(html, "<i>") != 1 || !strings.Contains(html, "<p>Förbundet</p>") {
		t.Fatalf("the layout did not run as written:\n%s", html)
	}
}

// At render the same bounds hold, and a run stops when the compile's
// context ends: a layout stored before the bounds existed cannot hold a
// sender or a preview.
func TestRunawayLayoutStopsAtRenderAndWithItsContext(t *testing.T) {
	tm := testTemplates(t)
	l, err := tm.ParseLayout("t", minimalLayout(`{{range 100000}}{{range 100000}}{{end}}{{end}}`), ThemeColors{})
	if err != nil {
		t.Fatal(err)
	}
	err = within(t, 10*time.Second, func() error {
		_, err := tm.CompileCampaign(context.Background(), CampaignInput{Subject: "s", Body: "Hej", Layout: l})
		return err
	})
	var le *LayoutError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a layout error", err)
	}
	// Slow enough to pass the step bound late: each round writes.
	l, err = tm.ParseLayout("t", minimalLayout(`{{range 90000}}{{printf "%1d" 1}}{{end}}`), ThemeColors{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tm.CompileCampaign(ctx, CampaignInput{Subject: "s", Body: "Hej", Layout: l})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	l2, _ := tm.ParseLayout("t", minimalLayout(`{{range 10}}x{{end}}`), ThemeColors{})
	var hb strings.Builder
	if err := l2.html.execute(ctx, &hb, tm.sampleData("sv", DefaultTheme, false), 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a run with an ended context: %v", err)
	}
}
