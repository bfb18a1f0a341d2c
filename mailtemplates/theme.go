package mailtemplates

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
)

// Theme is the look of a newsletter: colours and the inline styles the
// renderer puts on each element. Colours are chosen for contrast on both
// light and dark backgrounds (clients that invert colours in dark mode keep
// them readable) and meet WCAG AA against the background they sit on.
type Theme struct {
	Name       string
	Accent     string // header band, kickers and links
	AccentText string // text on the accent colour
	Text       string
	Muted      string
	Background string // around the content
	Surface    string // behind the content
	Tint       string // behind an editorial
	Font       string
	// DarkAccent is the accent in dark mode, for clients that honour
	// prefers-color-scheme (Apple Mail, iOS, Outlook.com).
	DarkAccent string

	Paragraph, Link, List, ListItem, Blockquote, Image, Rule, Table, TableCell string
	H1, H2, H3                                                                 string
	Headline, Kicker, Caption, Signature, ReadMore, CalDate, CalTitle          string
}

func (th *Theme) heading(level int) string {
	switch level {
	case 1:
		return th.H1
	case 2:
		return th.H2
	default:
		return th.H3
	}
}

// ThemeColors are the parts of a theme a staff template sets; the element
// styles are derived from them.
type ThemeColors struct {
	Accent     string `json:"accent,omitempty"`
	AccentText string `json:"accent_text,omitempty"`
	Text       string `json:"text,omitempty"`
	Muted      string `json:"muted,omitempty"`
	Background string `json:"background,omitempty"`
	Surface    string `json:"surface,omitempty"`
	Tint       string `json:"tint,omitempty"`
	DarkAccent string `json:"dark_accent,omitempty"`
	Font       string `json:"font,omitempty"`
}

// DefaultColors are the colours of DefaultTheme.
var DefaultColors = ThemeColors{
	Accent: "#1d4f91", AccentText: "#ffffff", Text: "#1f2328", Muted: "#57606a",
	Background: "#eef1f4", Surface: "#ffffff", Tint: "#f1f5fa", DarkAccent: "#8ab4f8",
	Font: "Arial, Helvetica, sans-serif",
}

// ThemeError names the theme field that is wrong, e.g. "theme.accent".
type ThemeError struct {
	Field, Msg string
}

func (e *ThemeError) Error() string { return e.Field + ": " + e.Msg }

var (
	hexColorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	fontRE     = regexp.MustCompile(`^[A-Za-z0-9 ,-]{1,120}$`)
)

// NewTheme fills the unset colours from DefaultColors, checks the rest
// (#rrggbb colours, a plain font list, WCAG AA contrast of text on its
// background) and derives the element styles.
func NewTheme(name string, c ThemeColors) (*Theme, error) {
	d := DefaultColors
	fields := []struct {
		name string
		v    *string
		def  string
	}{
		{"accent", &c.Accent, d.Accent}, {"accent_text", &c.AccentText, d.AccentText}, {"text", &c.Text, d.Text},
		{"muted", &c.Muted, d.Muted}, {"background", &c.Background, d.Background}, {"surface", &c.Surface, d.Surface},
		{"tint", &c.Tint, d.Tint}, {"dark_accent", &c.DarkAccent, d.DarkAccent},
	}
	for _, f := range fields {
		if *f.v == "" {
			*f.v = f.def
		}
		if !hexColorRE.MatchString(*f.v) {
			return nil, &ThemeError{"theme." + f.name, fmt.Sprintf("must be a colour like #1d4f91, not %q", *f.v)}
		}
	}
	if c.Font == "" {
		c.Font = d.Font
	}
	if !fontRE.MatchString(c.Font) {
		return nil, &ThemeError{"theme.font", "must be a list of font names of letters, digits, spaces, commas and -, like \"Georgia, serif\""}
	}
	pairs := []struct{ fg, bg, fgName, bgName string }{
		{c.Text, c.Surface, "text", "surface"},
		{c.Muted, c.Surface, "muted", "surface"},
		{c.Accent, c.Surface, "accent", "surface"},
		{c.AccentText, c.Accent, "accent_text", "accent"},
		{c.Text, c.Tint, "text", "tint"},
		{c.Accent, c.Tint, "accent", "tint"},
	}
	for _, p := range pairs {
		if r := contrast(p.fg, p.bg); r < 4.5 {
			return nil, &ThemeError{"theme." + p.fgName, fmt.Sprintf("contrast %.1f:1 against theme.%s; text needs at least 4.5:1 (WCAG AA)", r, p.bgName)}
		}
	}
	return newTheme(name, c), nil
}

// contrast is the WCAG contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(1) + 0.7152*ch(3) + 0.0722*ch(5)
}

// newTheme derives the element styles from checked colours.
func newTheme(name string, c ThemeColors) *Theme {
	th := &Theme{
		Name: name, Accent: c.Accent, AccentText: c.AccentText, Text: c.Text, Muted: c.Muted,
		Background: c.Background, Surface: c.Surface, Tint: c.Tint, DarkAccent: c.DarkAccent, Font: c.Font,
	}
	font := "font-family:" + th.Font + ";"
	base := font + "color:" + th.Text + ";"
	th.Paragraph = base + "font-size:16px;line-height:1.5;margin:0 0 16px 0;"
	th.H1 = base + "font-size:26px;line-height:1.25;margin:0 0 16px 0;font-weight:bold;"
	th.H2 = base + "font-size:21px;line-height:1.3;margin:24px 0 12px 0;font-weight:bold;"
	th.Headline = base + "font-size:21px;line-height:1.3;margin:0 0 12px 0;font-weight:bold;"
	th.H3 = base + "font-size:17px;line-height:1.3;margin:20px 0 8px 0;font-weight:bold;"
	th.Link = "color:" + th.Accent + ";text-decoration:underline;"
	th.List = base + "font-size:16px;line-height:1.5;margin:0 0 16px 0;padding:0 0 0 24px;"
	th.ListItem = "margin:0 0 6px 0;"
	th.Blockquote = base + "margin:0 0 16px 0;padding:4px 0 4px 16px;border-left:4px solid " + th.Accent + ";"
	th.Image = "display:block;width:100%;max-width:536px;height:auto;border:0;"
	th.Rule = "border:0;border-top:1px solid #d0d7de;margin:24px 0;"
	th.Table = base + "border-collapse:collapse;width:100%;margin:0 0 16px 0;font-size:15px;"
	th.TableCell = "border:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top;"
	th.Kicker = font + "color:" + th.Accent + ";font-size:13px;line-height:1.4;margin:0 0 6px 0;font-weight:bold;letter-spacing:1px;text-transform:uppercase;"
	th.Caption = font + "color:" + th.Muted + ";font-size:14px;line-height:1.4;margin:6px 0 0 0;"
	th.Signature = base + "font-size:16px;line-height:1.5;margin:0 0 16px 0;font-style:italic;"
	th.ReadMore = font + "color:" + th.Accent + ";font-size:16px;font-weight:bold;text-decoration:underline;"
	th.CalDate = base + "font-size:15px;line-height:1.4;padding:8px 12px 8px 0;border-bottom:1px solid #d0d7de;vertical-align:top;white-space:nowrap;font-weight:bold;"
	th.CalTitle = base + "font-size:15px;line-height:1.4;padding:8px 0;border-bottom:1px solid #d0d7de;vertical-align:top;"
	return th
}

// DefaultTheme is the look used when a list names no template.
var DefaultTheme = newTheme("default", DefaultColors)
