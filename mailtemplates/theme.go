package mailtemplates

// Theme is the look of a newsletter: colours and the inline styles the
// renderer puts on each element. Colours are chosen for contrast on both
// light and dark backgrounds (clients that invert colours in dark mode keep
// them readable) and meet WCAG AA against the background they sit on.
type Theme struct {
	Name       string
	Accent     string // header band and buttons
	AccentText string // text on the accent colour
	Text       string
	Muted      string
	Background string // around the content
	Surface    string // behind the content
	Font       string

	Paragraph, Link, List, ListItem, Blockquote, Image, Rule, Table, TableCell string
	H1, H2, H3                                                                 string
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

// newTheme fills the element styles from the colours.
func newTheme(name, accent, accentText string) *Theme {
	th := &Theme{
		Name: name, Accent: accent, AccentText: accentText,
		Text: "#1f2328", Muted: "#57606a", Background: "#eef1f4", Surface: "#ffffff",
		Font: "Arial, Helvetica, sans-serif",
	}
	base := "font-family:" + th.Font + ";color:" + th.Text + ";"
	th.Paragraph = base + "font-size:16px;line-height:1.5;margin:0 0 16px 0;"
	th.H1 = base + "font-size:26px;line-height:1.25;margin:0 0 16px 0;font-weight:bold;"
	th.H2 = base + "font-size:21px;line-height:1.3;margin:24px 0 12px 0;font-weight:bold;"
	th.H3 = base + "font-size:17px;line-height:1.3;margin:20px 0 8px 0;font-weight:bold;"
	th.Link = "color:" + accent + ";text-decoration:underline;"
	th.List = base + "font-size:16px;line-height:1.5;margin:0 0 16px 0;padding:0 0 0 24px;"
	th.ListItem = "margin:0 0 6px 0;"
	th.Blockquote = base + "margin:0 0 16px 0;padding:4px 0 4px 16px;border-left:4px solid " + accent + ";"
	th.Image = "display:block;max-width:100%;height:auto;border:0;"
	th.Rule = "border:0;border-top:1px solid #d0d7de;margin:24px 0;"
	th.Table = base + "border-collapse:collapse;width:100%;margin:0 0 16px 0;font-size:15px;"
	th.TableCell = "border:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top;"
	return th
}

// DefaultTheme is the look used when a list names none.
var DefaultTheme = newTheme("default", "#1d4f91", "#ffffff")
