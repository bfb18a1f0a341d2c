// Package mailtemplates renders utskick's mail: campaign issues from their
// Markdown source and the system mails (opt-in confirmation), in Swedish
// or English, as multipart/alternative RFC 5322 messages.
//
// A campaign is compiled once (Markdown, layout, escaping and MIME
// encoding of everything that is the same for every recipient) into a
// Compiled value; writing one recipient's message then only encodes that
// recipient's values and headers and copies the pre-encoded rest. This is
// what keeps the send path close to the speed of the SMTP server.
package mailtemplates

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
)

//go:embed layouts/*
var layoutFS embed.FS

// Templates are the parsed layouts and translations. Safe for concurrent
// use.
type Templates struct {
	html *htmltemplate.Template
	text *texttemplate.Template
	cats map[string]Catalog
	// nonce makes the markers and MIME boundary of a compile unique;
	// golden tests replace it with a constant.
	nonce func() string
}

// New parses the embedded layouts and translations.
func New() (*Templates, error) {
	cats, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	h, err := htmltemplate.ParseFS(layoutFS, "layouts/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse html layouts: %w", err)
	}
	tx, err := texttemplate.ParseFS(layoutFS, "layouts/*.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text layouts: %w", err)
	}
	return &Templates{html: h, text: tx, cats: cats, nonce: newNonce}, nil
}

// Catalog returns the translations of lang (the default language for an
// unsupported one).
func (t *Templates) Catalog(lang string) Catalog { return t.cats[NormalizeLanguage(lang)] }
