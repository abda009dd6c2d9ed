package change_test

import (
	"encoding/json"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// TestControlCharactersKept pins a decision (docs/SAFETY.md): NUL and other control
// characters inside text are published exactly as Personio sent them, and survive the Avro encoding; only surrounding white space is
// trimmed (NUL is not white space). A value is neither cleaned nor a reason to reject its
// person: cleaning would publish something Personio does not hold, and rejecting would
// withhold every person delete until someone edits a free-text field.
func TestControlCharactersKept(t *testing.T) {
	p := personio.Person{ID: "1", FirstName: "Ada\x00Lovelace", LastName: " \x07Bell\x1b ", Email: "a\x00@example.com",
		CreatedAt: "2020-01-01T00:00:00Z",
		CustomAttributes: []personio.CustomAttribute{
			{ID: "note", Type: "STRING", Value: json.RawMessage(`"line\u0000one\nline two\u0007"`)},
		}}
	emps := []personio.Employment{{ID: "7", Position: &personio.Position{Title: "Dev\x00Ops\r\n"}}}

	got, err := change.NewPerson(p, emps)
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	want := map[string]string{
		"first_name": "Ada\x00Lovelace",
		"last_name":  "\x07Bell\x1b",
		"email":      "a\x00@example.com",
		"value_json": `"line\u0000one\nline two\u0007"`,
		"position":   "Dev\x00Ops",
	}
	check := func(what string, r *change.Person) {
		t.Helper()
		for field, g := range map[string]string{
			"first_name": *r.FirstName, "last_name": *r.LastName, "email": *r.Email,
			"value_json": *r.CustomAttributes[0].ValueJSON, "position": *r.Employments[0].PositionTitle,
		} {
			if g != want[field] {
				t.Errorf("%s: %s = %q, want %q", what, field, g, want[field])
			}
		}
	}
	check("NewPerson", got)

	data, err := change.MarshalRecord(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := change.UnmarshalRecord(change.Persons, data)
	if err != nil {
		t.Fatal(err)
	}
	check("Avro round trip", back.(*change.Person))
}
