package mailtemplates

import "strings"

// SampleBody is a short issue with every block type, for previews of a
// template without a campaign.
func SampleBody() string {
	b, _ := layoutFS.ReadFile("layouts/sample.md") // embedded: cannot fail
	return string(b)
}

// Fill replaces the placeholders of s with r's values, unescaped: for
// text that is not mail, such as an issue's title in the archive.
func Fill(s string, r *Recipient) (string, error) {
	out, ps, err := extractPlaceholders("text", s, "")
	if err != nil {
		return "", err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		out = strings.ReplaceAll(out, marker("", i), ps[i].value(r))
	}
	return out, nil
}
