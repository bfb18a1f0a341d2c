package mailtemplates

import (
	"html"
	"regexp"
	"strings"
)

// Tracking asks CompileCampaign to make a campaign's links and an open
// pixel per-recipient placeholders. Whether one recipient's message is
// actually tracked is that recipient's business (Recipient.LinkURL and
// OpenURL, set only with their consent): without them the placeholders
// write the original links and no pixel, so one compiled campaign serves
// tracked and untracked recipients alike.
type Tracking struct {
	Clicks bool
	Opens  bool
}

// ctxRaw marks a placeholder whose value is markup we built (the pixel),
// written without escaping.
const ctxRaw escapeContext = 100

var (
	hrefRE     = regexp.MustCompile(`href="(https?://[^"]+)"`)
	footnoteRE = regexp.MustCompile(`(?m)^(\[\d+\] )(https?://\S+)$`)
)

// tracker is the tracking state of one compile, shared by its languages so
// that a link has the same index in each.
type tracker struct {
	nonce   string
	links   []string       // original URLs by link index
	byURL   map[string]int // link index by URL
	phOf    map[int]int    // placeholder index by link index
	pixelPH int            // placeholder index of the pixel, -1 when none
}

// Links returns the campaign's tracked links by index: what a click token
// with that index redirects to. Empty unless compiled with Tracking.Clicks.
func (c *Compiled) Links() []string {
	if c.track == nil {
		return nil
	}
	return append([]string(nil), c.track.links...)
}

// Tracks reports what the campaign was compiled to track.
func (c *Compiled) Tracks() Tracking { return c.in.Tracking }

// trackHTML replaces each http(s) href with a link placeholder and, for
// opens, puts the pixel placeholder before </body>. Links that contain a
// placeholder themselves differ per recipient and are left alone.
func (c *Compiled) trackHTML(s string) string {
	t := c.tracker()
	if c.in.Tracking.Clicks {
		s = hrefRE.ReplaceAllStringFunc(s, func(m string) string {
			u := html.UnescapeString(hrefRE.FindStringSubmatch(m)[1])
			if strings.Contains(u, "Qph"+t.nonce) {
				return m
			}
			return `href="` + marker(t.nonce, c.linkPlaceholder(u)) + `"`
		})
	}
	if c.in.Tracking.Opens {
		if t.pixelPH < 0 {
			t.pixelPH = len(c.placeholders)
			c.placeholders = append(c.placeholders, Placeholder{Name: "open_pixel"})
		}
		m := marker(t.nonce, t.pixelPH)
		if i := strings.LastIndex(s, "</body>"); i >= 0 {
			s = s[:i] + m + "\n" + s[i:]
		} else {
			s += m
		}
	}
	return s
}

// trackText replaces the URLs of the text part's link footnotes.
func (c *Compiled) trackText(s string) string {
	if !c.in.Tracking.Clicks {
		return s
	}
	t := c.tracker()
	return footnoteRE.ReplaceAllStringFunc(s, func(m string) string {
		p := footnoteRE.FindStringSubmatch(m)
		if strings.Contains(p[2], "Qph"+t.nonce) {
			return m
		}
		return p[1] + marker(t.nonce, c.linkPlaceholder(p[2]))
	})
}

// markRaw makes the pixel placeholder's pieces write their value as it is.
func (c *Compiled) markRaw(ps []piece) []piece {
	if c.track == nil || c.track.pixelPH < 0 {
		return ps
	}
	for i := range ps {
		if ps[i].ph == c.track.pixelPH {
			ps[i].ctx = ctxRaw
		}
	}
	return ps
}

func (c *Compiled) tracker() *tracker {
	if c.track == nil {
		c.track = &tracker{byURL: map[string]int{}, phOf: map[int]int{}, pixelPH: -1}
	}
	return c.track
}

// linkPlaceholder returns the placeholder of URL u, adding the link the
// first time it is seen.
func (c *Compiled) linkPlaceholder(u string) int {
	t := c.track
	idx, ok := t.byURL[u]
	if !ok {
		idx = len(t.links)
		t.links = append(t.links, u)
		t.byURL[u] = idx
	}
	ph, ok := t.phOf[idx]
	if !ok {
		ph = len(c.placeholders)
		// Default is the original URL: what a recipient without
		// tracking gets.
		c.placeholders = append(c.placeholders, Placeholder{Name: "link", Link: idx, Default: u})
		t.phOf[idx] = ph
	}
	return ph
}

// openPixel is the 1×1 image of an open-tracking URL, or nothing.
func openPixel(u string) string {
	if u == "" {
		return ""
	}
	return `<img src="` + html.EscapeString(u) + `" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px;">`
}
