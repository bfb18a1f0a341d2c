package api

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// The public archive: a list with archive: true shows its sent campaigns
// at /archive/<slug>, each issue rendered for nobody in particular (no
// personal links), with an Atom feed.

// archiveList returns the list behind :slug if its archive is on.
func (s *Server) archiveList(c echo.Context) (*store.List, error) {
	l, err := s.listBySlug(c)
	if err != nil {
		return nil, err
	}
	if !l.Archive {
		return nil, fmt.Errorf("archive of list %q: %w", l.Slug, store.ErrNotFound)
	}
	return l, nil
}

type archiveItem struct {
	Title, Preheader, URL, Date string
	Time                        time.Time
	ID                          int64
}

// archiveItems lists the issues with titles as the archive shows them:
// placeholders at their defaults.
func (s *Server) archiveItems(ctx context.Context, l *store.List) ([]archiveItem, error) {
	cs, err := s.st.ArchivedCampaigns(ctx, l.ID, 100)
	if err != nil {
		return nil, err
	}
	r := s.compose.ArchiveRecipient(l)
	items := make([]archiveItem, 0, len(cs))
	for _, c := range cs {
		title, err := mailtemplates.Fill(c.Subject, r)
		if err != nil {
			title = c.Name
		}
		pre, _ := mailtemplates.Fill(c.Preheader, r)
		items = append(items, archiveItem{Title: title, Preheader: pre, URL: s.compose.ArchiveURL(l.Slug, c.ID),
			Date: c.StartedAt.In(mailtemplates.Stockholm()).Format("2006-01-02"), Time: *c.StartedAt, ID: c.ID}) // the reader's day
	}
	return items, nil
}

type archivePage struct {
	pageBase
	Intro, Empty, FeedURL, FeedText, SubscribeURL, SubscribeText string
	Issues                                                       []archiveItem
}

func (s *Server) archiveIndex(c echo.Context) error {
	l, err := s.archiveList(c)
	if err != nil {
		return err
	}
	items, err := s.archiveItems(c.Request().Context(), l)
	if err != nil {
		return err
	}
	lang := pageLang(c, l.Language)
	cat := s.pages.cats(lang)
	p := archivePage{
		pageBase: s.base(c, lang, cat.T("archive.title", "list", l.Name)),
		Intro:    cat.T("archive.intro", "list", l.Name), Empty: cat.T("archive.empty"),
		FeedURL: s.baseURL + "/archive/" + l.Slug + "/feed.atom", FeedText: cat.T("archive.feed"),
		Issues: items,
	}
	if l.Visibility == store.VisibilityPublic {
		p.SubscribeURL, p.SubscribeText = s.baseURL+"/subscribe/"+l.Slug, cat.T("archive.subscribe", "list", l.Name)
	}
	return s.render(c, http.StatusOK, "archive", p)
}

// archiveIssue shows one issue as the list's subscribers saw it, less
// everything personal.
func (s *Server) archiveIssue(c echo.Context) error {
	l, err := s.archiveList(c)
	if err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	camp, err := s.st.ArchivedCampaign(ctx, l.ID, id)
	if err != nil {
		return err
	}
	comp, err := s.compose.ComposeArchive(ctx, s.st, camp, l)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	// The issue is mail HTML: inline styles and https images, nothing else.
	h.Set("Content-Security-Policy", mailHTMLPolicy)
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Cache-Control", "public, max-age=300")
	return c.HTMLBlob(http.StatusOK, []byte(comp.Compiled.HTML(s.compose.ArchiveRecipient(l))))
}

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Author  atomAuthor  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomEntry struct {
	Title     string   `xml:"title"`
	ID        string   `xml:"id"`
	Updated   string   `xml:"updated"`
	Published string   `xml:"published"`
	Link      atomLink `xml:"link"`
	Summary   string   `xml:"summary,omitempty"`
}

// archiveFeed is the archive as an Atom feed (RFC 4287).
func (s *Server) archiveFeed(c echo.Context) error {
	l, err := s.archiveList(c)
	if err != nil {
		return err
	}
	items, err := s.archiveItems(c.Request().Context(), l)
	if err != nil {
		return err
	}
	index := s.baseURL + "/archive/" + l.Slug
	f := atomFeed{
		Title: l.Name, ID: index, Updated: l.UpdatedAt.UTC().Format(time.RFC3339), Author: atomAuthor{Name: s.org},
		Links: []atomLink{{Href: index + "/feed.atom", Rel: "self", Type: "application/atom+xml"}, {Href: index, Rel: "alternate", Type: "text/html"}},
	}
	for i, it := range items {
		ts := it.Time.UTC().Format(time.RFC3339)
		if i == 0 {
			f.Updated = ts
		}
		f.Entries = append(f.Entries, atomEntry{Title: it.Title, ID: it.URL, Updated: ts, Published: ts,
			Link: atomLink{Href: it.URL, Rel: "alternate", Type: "text/html"}, Summary: it.Preheader})
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/atom+xml; charset=utf-8", append([]byte(xml.Header), b...))
}
