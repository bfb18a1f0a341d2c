package store

import (
	"strings"

	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// Fold is the form text is searched in: lower case by Unicode's rules,
// composed (NFC: an "å" pasted from a PDF as "a" plus a ring is the same
// letter as one typed), computed here rather than by the database,
// because SQLite's lower() and LIKE fold only ASCII ("Åsa" stays "Åsa",
// "JÖNSSON" becomes "jÖnsson"). Columns that hold it
// (subscribers.name_fold, campaigns.search_fold, migration 0019) are
// written with their source columns; a search folds its term the same
// way.
func Fold(s string) string { return norm.NFC.String(strings.ToLower(s)) }

// campaignFold is what a campaign is searched by: its name and subject.
// The line break keeps a term from matching across the two.
func campaignFold(name, subject string) string { return Fold(name + "\n" + subject) }

// BeforeCreate fills NameFold, for every way a subscriber is inserted
// (one, a batch of an import, a form's sign-up).
func (sub *Subscriber) BeforeCreate(*gorm.DB) error {
	sub.NameFold = Fold(sub.Name)
	return nil
}

// BeforeCreate fills SearchFold, for a new draft and a duplicate alike.
func (c *Campaign) BeforeCreate(*gorm.DB) error {
	c.SearchFold = campaignFold(c.Name, c.Subject)
	return nil
}
