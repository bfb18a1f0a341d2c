package api

import (
	"fmt"
)

// inputField is one labelled input with its hint and its error: the
// _field partial. Every form of the staff pages writes its single-line
// inputs through it, so the label, the hint and the error are tied to the
// input the same way everywhere (aria-describedby, aria-invalid), which
// is what a screen reader announces when the form comes back with errors.
type inputField struct {
	ID, Name, Label, Type, Value, Hint, Error string
	Max, Autocomplete, Placeholder, InputMode string
	Required, ReadOnly                        bool
}

// DescribedBy is the aria-describedby of the input: the hint, then the
// error.
func (f inputField) DescribedBy() string {
	var s string
	if f.Hint != "" {
		s = f.ID + "-hint"
	}
	if f.Error != "" {
		if s != "" {
			s += " "
		}
		s += f.ID + "-error"
	}
	return s
}

// newInputField is the template function field:
//
//	{{template "_field" (field .Errors "email" (t "field.email") "type" "email" "required" true)}}
//
// name is the input's name and, unless an "id" option says otherwise, its
// id; the error shown is errs[id] (a page with two forms that both have a
// "password" keys their errors by id). The options are name, value pairs:
// id, type (default text), value, hint (text, already translated), max,
// autocomplete (default off), placeholder, inputmode, required and
// readonly (booleans). An option the partial does not know is an error,
// so a misspelt one fails the page's tests instead of vanishing.
func newInputField(errs map[string]string, name, label string, opts ...any) (inputField, error) {
	f := inputField{ID: name, Name: name, Label: label, Type: "text", Autocomplete: "off"}
	if len(opts)%2 != 0 {
		return f, fmt.Errorf("field %q: options come in name, value pairs", name)
	}
	strs := map[string]*string{"id": &f.ID, "type": &f.Type, "value": &f.Value, "hint": &f.Hint, "max": &f.Max,
		"autocomplete": &f.Autocomplete, "placeholder": &f.Placeholder, "inputmode": &f.InputMode}
	bools := map[string]*bool{"required": &f.Required, "readonly": &f.ReadOnly}
	for i := 0; i < len(opts); i += 2 {
		key, _ := opts[i].(string)
		if p, ok := strs[key]; ok {
			*p = fmt.Sprint(opts[i+1])
		} else if p, ok := bools[key]; ok {
			b, ok := opts[i+1].(bool)
			if !ok {
				return f, fmt.Errorf("field %q: %s wants true or false, not %v", name, key, opts[i+1])
			}
			*p = b
		} else {
			return f, fmt.Errorf("field %q: no option %q", name, key)
		}
	}
	f.Error = errs[f.ID]
	return f, nil
}

// secretCard is what the _secret partial shows: a secret made just now
// (an API token, a webhook's signing secret), which utskick will not show
// again, with the words of the page that made it.
type secretCard struct {
	Value, Title, Intro, Label, Hint string
}

func newSecretCard(value, title, intro, label, hint string) secretCard {
	return secretCard{Value: value, Title: title, Intro: intro, Label: label, Hint: hint}
}
