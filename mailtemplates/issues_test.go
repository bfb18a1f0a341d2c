package mailtemplates

import (
	"bytes"
	"context"
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// issue is a campaign source in testdata/issues: "Subject:" and
// "Preheader:" lines, a blank line, then the Markdown body.
type issue struct {
	Subject, Preheader, Body string
}

func loadIssue(t testing.TB, name string) issue {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "issues", name))
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		t.Fatalf("%s: no blank line after the header", name)
	}
	var is issue
	is.Body = body
	for _, l := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "Subject":
			is.Subject = strings.TrimSpace(v)
		case "Preheader":
			is.Preheader = strings.TrimSpace(v)
		default:
			t.Fatalf("%s: unknown header line %q", name, l)
		}
	}
	return is
}

// busLayout is the BUS newsletter's staff template from testdata.
func busLayout(t testing.TB, tm *Templates) *Layout {
	t.Helper()
	src, err := os.ReadFile("testdata/templates/bus.html")
	if err != nil {
		t.Fatal(err)
	}
	var colors ThemeColors
	b, err := os.ReadFile("testdata/templates/bus.theme.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &colors); err != nil {
		t.Fatal(err)
	}
	_, l, err := tm.PrepareLayout("bus", string(src), colors)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type issueCase struct {
	name, file, list, listID, lang string
	bus                            bool
	readers                        []string
}

var issueCases = []issueCase{
	{name: "senaste-nytt-mars", file: "senaste-nytt-mars.md", list: "Senaste nytt", listID: "senaste-nytt.nyhetsbrev.example.se", lang: "sv", readers: []string{"sv", "en"}},
	{name: "senaste-nytt-juni", file: "senaste-nytt-juni.md", list: "Senaste nytt", listID: "senaste-nytt.nyhetsbrev.example.se", lang: "sv", readers: []string{"sv"}},
	{name: "bus-oktober", file: "bus-oktober.md", list: "BUS nyhetsbrev", listID: "bus.nyhetsbrev.example.se", lang: "sv", bus: true, readers: []string{"sv", "en"}},
	{name: "news-english", file: "news-english.md", list: "News", listID: "news.nyhetsbrev.example.se", lang: "en", readers: []string{"en"}},
}

func compileIssue(t testing.TB, tm *Templates, tc issueCase) *Compiled {
	t.Helper()
	is := loadIssue(t, tc.file)
	in := CampaignInput{
		Subject: is.Subject, Preheader: is.Preheader, Body: is.Body, Language: tc.lang,
		From:     mail.Address{Name: "Förbundet", Address: "nyhetsbrev@example.se"},
		ListName: tc.list, ListID: tc.listID, Org: "Förbundet",
		ArchiveURL: "https://nyhetsbrev.example.se/archive/" + strings.SplitN(tc.listID, ".", 2)[0] + "/7",
		Headers:    []Header{{"Precedence", "bulk"}, {"Feedback-ID", "c7:l1:utskick"}},
	}
	if tc.bus {
		in.Layout = busLayout(t, tm)
	}
	c, err := tm.CompileCampaign(context.Background(), in)
	if err != nil {
		t.Fatalf("%s: %v", tc.file, err)
	}
	return c
}

// TestIssueGolden renders the seed-like issues for readers in each
// language and compares the whole message and its decoded parts with the
// golden files.
func TestIssueGolden(t *testing.T) {
	tm := testTemplates(t)
	for _, tc := range issueCases {
		c := compileIssue(t, tm, tc)
		for _, rl := range tc.readers {
			t.Run(tc.name+"."+rl, func(t *testing.T) {
				r := testRecipient(rl)
				var buf bytes.Buffer
				c.WriteMessage(&buf, r, WriteOptions{})
				base := "golden/" + tc.name + "." + rl
				golden(t, base+".eml", buf.Bytes())
				_, text, htmlPart := parseMessage(t, buf.Bytes())
				golden(t, base+".html", []byte(htmlPart))
				golden(t, base+".txt", []byte(text))
			})
		}
	}
}

// htmlLinks returns the href of every <a> in doc, and the visible text of
// each.
func htmlLinks(t testing.TB, doc string) (hrefs, texts []string) {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			hrefs = append(hrefs, attr(n, "href"))
			texts = append(texts, nodeTextHTML(n))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return hrefs, texts
}

func nodeTextHTML(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(nodeTextHTML(c))
	}
	return b.String()
}

// TestEveryHTMLLinkIsInTheText checks that a reader of the plain-text part
// can reach every link of the HTML part.
func TestEveryHTMLLinkIsInTheText(t *testing.T) {
	tm := testTemplates(t)
	for _, tc := range issueCases {
		c := compileIssue(t, tm, tc)
		for _, rl := range tc.readers {
			r := testRecipient(rl)
			h, txt := c.HTML(r), c.Text(r)
			hrefs, _ := htmlLinks(t, h)
			if len(hrefs) < 5 {
				t.Fatalf("%s: only %d links in the HTML", tc.name, len(hrefs))
			}
			for _, href := range hrefs {
				want := strings.TrimPrefix(href, "mailto:")
				if !strings.Contains(txt, want) {
					t.Errorf("%s.%s: link %s is in the HTML but not in the text part", tc.name, rl, href)
				}
			}
		}
	}
}
