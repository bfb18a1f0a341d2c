package api

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestScreenSourcesRefuseATemplateNameTwoFilesDefine(t *testing.T) {
	layout := `{{define "layout:top"}}{{end}}{{define "layout:middle"}}{{end}}{{define "layout:bottom"}}{{end}}`
	for _, c := range []struct {
		name  string
		files map[string]string
		want  string // "" for no error
	}{
		{"own blocks only", map[string]string{
			"a.html": `{{define "content"}}A{{end}}`, "b.html": `{{define "head"}}{{end}}{{define "content"}}B{{end}}`}, ""},
		{"a helper in two screens", map[string]string{
			"a.html": `{{define "content"}}{{template "row" .}}{{end}}{{define "row"}}a{{end}}`,
			"b.html": `{{define "content"}}{{template "row" .}}{{end}}{{define "row"}}b{{end}}`}, `both define "row"`},
		{"a screen redefining a partial", map[string]string{
			"_chart.html": `{{define "chart"}}{{end}}`,
			"a.html":      `{{define "content"}}{{end}}{{define "chart"}}x{{end}}`}, `define "chart"`},
		{"no content", map[string]string{"a.html": `{{define "head"}}{{end}}`}, "want one content block"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{"web/templates/layout.html": {Data: []byte(layout)}}
			var screens []string
			for n, src := range c.files {
				fsys["web/templates/"+n] = &fstest.MapFile{Data: []byte(src)}
				if !strings.HasPrefix(n, "_") {
					screens = append(screens, strings.TrimSuffix(n, ".html"))
				}
			}
			out, err := screenSources(fsys, screens)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err %v, want one saying %q", err, c.want)
			case c.want == "":
				for _, sc := range out {
					if !strings.Contains(sc.src, `define "content:`+sc.name+`"`) || !strings.Contains(sc.src, `define "page:`+sc.name+`"`) {
						t.Errorf("screen %s: blocks not named for it:\n%s", sc.name, sc.src)
					}
				}
			}
		})
	}
}
