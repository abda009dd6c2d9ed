package personio

import (
	"encoding/json"
	"testing"
)

// Personio's persons spec lists custom attribute types upper case (its enum) and sends them
// lower case in its examples; its employments spec names termination.last_working_day in the
// schema and last_working_date in the examples. The client reads both forms of each the same.
func TestDecodeBothFormsOfTheSpec(t *testing.T) {
	for _, typ := range []string{"STRING", "string", " String "} {
		var a CustomAttribute
		if err := json.Unmarshal([]byte(`{"id":"dynamic_1","type":"`+typ+`","value":"x"}`), &a); err != nil {
			t.Fatal(err)
		}
		if a.Type != "STRING" {
			t.Errorf("type %q decoded as %q, want STRING", typ, a.Type)
		}
	}
	for name, body := range map[string]string{
		"schema":  `{"termination_date":"2026-01-31","last_working_day":"2026-01-30"}`,
		"example": `{"termination_date":"2026-01-31","last_working_date":"2026-01-30"}`,
		"both":    `{"termination_date":"2026-01-31","last_working_day":"2026-01-30","last_working_date":"2026-01-29"}`,
	} {
		var term Termination
		if err := json.Unmarshal([]byte(body), &term); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if term.LastWorkingDay != "2026-01-30" || term.TerminationDate != "2026-01-31" {
			t.Errorf("%s: decoded %+v, want last working day 2026-01-30", name, term)
		}
	}
}
