package personio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestDecimalNeverFailsAPage: an amount that is not a decimal number is kept as sent, for the
// normalizer to reject that one item; the page and its other items decode. Before, the
// amount "1.234,56" failed the whole page with ErrDecode.
func TestDecimalNeverFailsAPage(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"_data":[
			{"id":"c1","person":{"id":"1"},"amount":{"value":"1.234,56","currency":"EUR"}},
			{"id":"c2","person":{"id":"2"},"amount":{"value":1234.56,"currency":"EUR"},"weekly_working_hours":true},
			{"id":"c3","person":{"id":"3"},"amount":{"value":{"v":1},"currency":"EUR"},"weekly_working_hours":" 40 "}
		]}`)
	})
	c, _ := f.start(Config{})
	var got []Compensation
	err := c.ListCompensations(t.Context(), CompensationFilter{Window: Window{date(2026, 1, 1), date(2026, 1, 31)}},
		func(cs []Compensation) error { got = append(got, cs...); return nil })
	if err != nil {
		t.Fatalf("the page failed: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("%d compensations, want 3", len(got))
	}
	for i, want := range []struct{ amount, hours string }{{"1.234,56", ""}, {"1234.56", "true"}, {`{"v":1}`, "40"}} {
		hours := ""
		if got[i].WeeklyWorkingHours != nil {
			hours = string(*got[i].WeeklyWorkingHours)
		}
		if string(got[i].Amount.Value) != want.amount || hours != want.hours {
			t.Errorf("compensation %d: amount %q hours %q, want %q %q", i, got[i].Amount.Value, hours, want.amount, want.hours)
		}
	}
	// Re-encoded, a text that is not a number becomes a JSON string: the JSON stays valid.
	for _, d := range []Decimal{"1.234,56", `{"v":1}`, "12.50", ""} {
		b, err := json.Marshal(Money{Value: d})
		var back Money
		if err != nil || json.Unmarshal(b, &back) != nil || back.Value != d {
			t.Errorf("%q: marshalled %s (%v), read back %q", d, b, err, back.Value)
		}
	}
}
