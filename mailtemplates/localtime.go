package mailtemplates

import (
	"fmt"
	"time"
)

var months = map[string][12]string{
	"sv": {"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// LocalDate formats t as a date in Europe/Stockholm the way a reader of
// lang writes it: "2 mars 2026", "2 March 2026".
func LocalDate(t time.Time, lang string) string {
	t = t.In(Stockholm())
	return fmt.Sprintf("%d %s %d", t.Day(), months[NormalizeLanguage(lang)][t.Month()-1], t.Year())
}

// LocalTime formats t as a date and time in Europe/Stockholm, daylight
// saving included: "2 mars 2026 kl. 08:00", "2 March 2026, 08:00".
func LocalTime(t time.Time, lang string) string {
	l := NormalizeLanguage(lang)
	local := t.In(Stockholm())
	if l == "sv" {
		return LocalDate(t, l) + " kl. " + local.Format("15:04")
	}
	return LocalDate(t, l) + ", " + local.Format("15:04")
}
