package api

import (
	"bytes"
	htmltemplate "html/template"
	"strings"
	"testing"
)

// renderField runs the _field partial as the pages do.
func renderField(t *testing.T, errs map[string]string, name, label string, opts ...any) string {
	t.Helper()
	f, err := newInputField(errs, name, label, opts...)
	if err != nil {
		t.Fatal(err)
	}
	src, err := webFS.ReadFile("web/templates/_field.html")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := htmltemplate.Must(htmltemplate.New("").Parse(string(src)))
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "_field", f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFieldTiesHintAndErrorToTheInput(t *testing.T) {
	html := renderField(t, map[string]string{"password": "Too short."}, "password", "New password",
		"type", "password", "value", "secret", "hint", "At least 12 characters.", "autocomplete", "new-password", "required", true)
	for _, want := range []string{
		`<label for="password">New password</label>`,
		`<p class="hint" id="password-hint">At least 12 characters.</p>`,
		`aria-describedby="password-hint password-error"`,
		`aria-invalid="true"`,
		`<p class="error" id="password-error">Too short.</p>`,
		` required`,
		`autocomplete="new-password"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
	if strings.Contains(html, "secret") {
		t.Errorf("a password field wrote its value back:\n%s", html)
	}
}

func TestFieldWithoutHintOrErrorDescribesNothing(t *testing.T) {
	html := renderField(t, nil, "name", "Name", "value", `Anna "A" <b>`, "max", 200)
	for _, unwanted := range []string{"aria-describedby", "aria-invalid", `class="error"`, `class="hint"`, "required"} {
		if strings.Contains(html, unwanted) {
			t.Errorf("unexpected %s in\n%s", unwanted, html)
		}
	}
	for _, want := range []string{`type="text"`, `maxlength="200"`, `autocomplete="off"`, `value="Anna &#34;A&#34; &lt;b&gt;"`} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
}

func TestFieldErrorIsKeyedByIDWhenTwoFormsShareAName(t *testing.T) {
	errs := map[string]string{"off-code": "Wrong code."}
	html := renderField(t, errs, "code", "Code", "id", "off-code")
	if !strings.Contains(html, `id="off-code" name="code"`) || !strings.Contains(html, `id="off-code-error">Wrong code.`) {
		t.Errorf("error not shown under the field with that id:\n%s", html)
	}
	if html := renderField(t, errs, "code", "Code", "id", "codes-code"); strings.Contains(html, "Wrong code.") {
		t.Errorf("the other form's field shows the error:\n%s", html)
	}
}

func TestFieldRefusesOptionsItDoesNotKnow(t *testing.T) {
	for _, opts := range [][]any{
		{"maxlen", "20"},        // misspelt
		{"required", "yes"},     // not a boolean
		{"type", "text", "max"}, // no value
	} {
		if _, err := newInputField(nil, "x", "X", opts...); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}
