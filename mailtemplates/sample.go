package mailtemplates

// SampleBody is a short issue with every block type, for previews of a
// template without a campaign.
func SampleBody() string {
	b, _ := layoutFS.ReadFile("layouts/sample.md") // embedded: cannot fail
	return string(b)
}

// Fill replaces the placeholders of s with r's values, unescaped: for
// text that is not mail, such as an issue's title in the archive.
func Fill(s string, r *Recipient) (string, error) {
	if _, _, err := extractPlaceholders("text", s, "", 0); err != nil {
		return "", err
	}
	// One pass: the placeholders are known to be valid.
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		p, _ := parsePlaceholder(m[2 : len(m)-2])
		return p.value(r)
	}), nil
}
