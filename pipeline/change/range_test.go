package change_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// TestDatesAndInstantsInRange: dates outside 1900-01-01 … 9999-12-31 and instants outside
// 1970-01-01T00:00:00Z … 2200-12-31T23:59:59.999Z are invalid, as a *FieldError naming the
// field (NewPerson, NewCompensation). Year-0 dates were published and crashed Python consumers
// ("date value out of range"), and a compensation dated year 0 was outside every window,
// so it was never deleted.
func TestDatesAndInstantsInRange(t *testing.T) {
	dates := []struct {
		text string
		ok   bool
	}{
		{"0000-01-01", false}, {"0001-01-01", false}, {"1899-12-31", false}, {"1899-12-31T23:00:00Z", false},
		{"1900-01-01", true}, {"2026-11-01", true}, {"2200-12-31", true}, {"9999-12-31", true},
		{"0000-03-01T00:00:00Z", false},
	}
	instants := []struct {
		text string
		ok   bool
	}{
		{"0000-01-01T00:00:00Z", false}, {"0001-01-01T00:00:00Z", false}, {"1969-12-31T23:59:59.999Z", false},
		{"1970-01-01T00:59:59.999+01:00", false}, {"1969-12-31", false}, {"1969-12-31 23:59:59", false},
		{"1970-01-01T00:00:00Z", true}, {"1970-01-01", true}, {"2026-11-27T10:00:00.123456Z", true},
		{"2200-12-31T23:59:59.999999Z", true}, {"2201-01-01T00:00:00Z", false}, {"2200-12-31T23:00:00-01:00", false},
		{"9999-12-31T23:59:59Z", false},
	}
	check := func(t *testing.T, err error, ok bool, field string) {
		t.Helper()
		if ok {
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			return
		}
		var fe *change.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, change.ErrInvalid) || fe.Field != field || !strings.Contains(fe.Reason, "out of range") {
			t.Fatalf("error %v; want a *FieldError for %s, out of range", err, field)
		}
	}
	for _, d := range dates {
		t.Run("effective_from "+d.text, func(t *testing.T) {
			_, err := change.NewCompensation(personio.Compensation{ID: "c1", Person: personio.Ref{ID: "1"},
				Amount: personio.Money{Value: "100", Currency: "EUR"}, EffectiveFrom: d.text})
			check(t, err, d.ok, "effective_from")
		})
		t.Run("start_date "+d.text, func(t *testing.T) {
			p := personio.Person{ID: "1", CreatedAt: "2020-01-01T00:00:00Z"}
			emps := []personio.Employment{{ID: "7", EmploymentStartDate: d.text}}
			_, err := change.NewPerson(p, emps)
			check(t, err, d.ok, "employments.7.start_date")
		})
	}
	for _, in := range instants {
		for _, field := range []string{"created_at", "updated_at", "employments.7.updated_at", "employments.7.termination.terminated_at"} {
			t.Run(fmt.Sprintf("%s %s", field, in.text), func(t *testing.T) {
				p := personio.Person{ID: "1"}
				emps := []personio.Employment{{ID: "7"}}
				switch field {
				case "created_at":
					p.CreatedAt = in.text
				case "updated_at":
					p.UpdatedAt = in.text
				case "employments.7.updated_at":
					emps[0].UpdatedAt = in.text
				default:
					emps[0].Termination = &personio.Termination{TerminatedAt: in.text}
				}
				_, err := change.NewPerson(p, emps)
				check(t, err, in.ok, field)
			})
		}
	}
}
