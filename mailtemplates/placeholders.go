package mailtemplates

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Placeholder is one {{ ... }} in a campaign's subject, preheader or body.
//
//	{{ name }}                      the subscriber's name
//	{{ first_name | default "vän" }} the first word of it, or the default
//	{{ email }}
//	{{ attr.kommun | default "länet" }} a subscriber attribute
//	{{ unsubscribe_url }} {{ preferences_url }}
//
// Values are escaped for where they land (HTML text, an attribute, a URL,
// a header), so a subscriber's name can never inject markup.
type Placeholder struct {
	Name    string // "name", "first_name", "email", "attr", "unsubscribe_url", "preferences_url"
	Attr    string // the attribute key, for Name == "attr"
	Default string
	Link    int // the link index, for Name == "link" (tracking.go)
}

// PlaceholderError names a placeholder that cannot be filled in.
//
// Msg is the English; Key and Params word the same for a page in its
// reader's language (i18n key "content.placeholder."+Key), as BodyError's.
type PlaceholderError struct {
	Field       string // "subject", "preheader" or "body"
	Placeholder string // as written
	Msg         string
	Key         string
	Params      map[string]string
}

// placeholderProblem is what parsePlaceholder found wrong: the English,
// and its key and params for PlaceholderError.
type placeholderProblem struct {
	msg    string
	key    string
	params map[string]string
}

func (p *placeholderProblem) Error() string { return p.msg }

func (e *PlaceholderError) Error() string {
	return fmt.Sprintf("%s: placeholder %s: %s", e.Field, e.Placeholder, e.Msg)
}

var (
	placeholderRE = regexp.MustCompile(`\{\{(.*?)\}\}`)
	attrKeyRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	defaultRE     = regexp.MustCompile(`^default\s+("(?:[^"\\]|\\.)*")$`)
)

// MaxPlaceholders bounds the placeholders of one field. A real issue has
// a handful; the bound keeps a compile's work proportional to what staff
// could mean.
const MaxPlaceholders = 1000

var knownPlaceholders = map[string]bool{
	"name": true, "first_name": true, "email": true, "unsubscribe_url": true, "preferences_url": true,
}

// parsePlaceholder reads the inside of {{ }}.
func parsePlaceholder(inner string) (Placeholder, error) {
	parts := strings.SplitN(inner, "|", 2)
	name := strings.TrimSpace(parts[0])
	var p Placeholder
	switch {
	case knownPlaceholders[name]:
		p.Name = name
	case strings.HasPrefix(name, "attr."):
		key := strings.TrimPrefix(name, "attr.")
		if !attrKeyRE.MatchString(key) {
			return p, &placeholderProblem{"attribute names are letters, digits, _ and -", "attr_name", nil}
		}
		p.Name, p.Attr = "attr", key
	case name == "":
		return p, &placeholderProblem{"empty placeholder", "empty", nil}
	default:
		return p, &placeholderProblem{fmt.Sprintf("unknown placeholder %q (known: name, first_name, email, attr.<key>, unsubscribe_url, preferences_url)", name),
			"unknown", map[string]string{"name": name}}
	}
	if len(parts) == 2 {
		m := defaultRE.FindStringSubmatch(strings.TrimSpace(parts[1]))
		if m == nil {
			return p, &placeholderProblem{`after | only default "text" is allowed`, "after_bar", nil}
		}
		d, err := strconv.Unquote(m[1])
		if err != nil {
			return p, &placeholderProblem{fmt.Sprintf("bad default text: %v", err), "bad_default", nil}
		}
		p.Default = d
	}
	return p, nil
}

// ValidatePlaceholders checks every placeholder in s, for the API to reject
// a campaign at save time instead of at send time.
func ValidatePlaceholders(field, s string) error {
	_, _, err := extractPlaceholders(field, s, "", 0)
	return err
}

// extractPlaceholders replaces each placeholder in s with a marker made of
// letters and digits only (so Markdown, HTML escaping and URL escaping all
// leave it intact) and returns the rewritten text and the placeholders by
// marker index, numbering the markers from offset. A "{{" without a
// matching "}}" is an error, and so are more than MaxPlaceholders.
func extractPlaceholders(field, s, nonce string, offset int) (string, []Placeholder, error) {
	var out strings.Builder
	var ps []Placeholder
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(s, -1) {
		if i := strings.Index(s[last:m[0]], "{{"); i >= 0 {
			return "", nil, &PlaceholderError{Field: field, Placeholder: "{{", Msg: "not closed with }}", Key: "unclosed"}
		}
		if len(ps) == MaxPlaceholders {
			return "", nil, &PlaceholderError{Field: field, Placeholder: s[m[0]:m[1]],
				Msg: fmt.Sprintf("more than %d placeholders; a mail needs a few", MaxPlaceholders),
				Key: "too_many", Params: map[string]string{"max": strconv.Itoa(MaxPlaceholders)}}
		}
		p, err := parsePlaceholder(s[m[2]:m[3]])
		if err != nil {
			pe := &PlaceholderError{Field: field, Placeholder: s[m[0]:m[1]], Msg: err.Error()}
			var pb *placeholderProblem
			if errors.As(err, &pb) {
				pe.Key, pe.Params = pb.key, pb.params
			}
			return "", nil, pe
		}
		out.WriteString(s[last:m[0]])
		out.WriteString(marker(nonce, offset+len(ps)))
		ps = append(ps, p)
		last = m[1]
	}
	if strings.Contains(s[last:], "{{") {
		return "", nil, &PlaceholderError{Field: field, Placeholder: "{{", Msg: "not closed with }}", Key: "unclosed"}
	}
	out.WriteString(s[last:])
	return out.String(), ps, nil
}

func marker(nonce string, i int) string { return "Qph" + nonce + "n" + strconv.Itoa(i) + "Z" }

// value is what a placeholder stands for, for one recipient.
func (p Placeholder) value(r *Recipient) string {
	var v string
	switch p.Name {
	case "name":
		v = r.Name
	case "first_name":
		v, _, _ = strings.Cut(strings.TrimSpace(r.Name), " ")
	case "email":
		v = r.Email
	case "attr":
		if x, ok := r.Attributes[p.Attr]; ok && x != nil {
			switch x := x.(type) {
			case string:
				v = x
			case float64:
				v = strconv.FormatFloat(x, 'f', -1, 64)
			default:
				v = fmt.Sprint(x)
			}
		}
	case "unsubscribe_url":
		v = r.UnsubscribeURL
	case "preferences_url":
		v = r.PreferencesURL
	case "link":
		if r.LinkURL != nil {
			v = r.LinkURL(p.Link)
		}
	case "open_pixel":
		v = openPixel(r.OpenURL)
	}
	if strings.TrimSpace(v) == "" {
		return p.Default
	}
	return v
}
