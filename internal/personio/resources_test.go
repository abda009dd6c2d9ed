package personio

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestMonthWindows(t *testing.T) {
	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"one day", date(2026, 3, 5), date(2026, 3, 5), []string{"2026-03-05..2026-03-05"}},
		{"whole month", date(2026, 1, 1), date(2026, 1, 31), []string{"2026-01-01..2026-01-31"}},
		{"partial months", date(2026, 1, 15), date(2026, 3, 10), []string{
			"2026-01-15..2026-01-31", "2026-02-01..2026-02-28", "2026-03-01..2026-03-10"}},
		{"leap February", date(2028, 2, 1), date(2028, 3, 1), []string{"2028-02-01..2028-02-29", "2028-03-01..2028-03-01"}},
		{"year boundary", date(2025, 12, 20), date(2026, 1, 5), []string{"2025-12-20..2025-12-31", "2026-01-01..2026-01-05"}},
		{"to before from", date(2026, 2, 1), date(2026, 1, 31), nil},
		{"times of day ignored", time.Date(2026, 4, 30, 23, 59, 0, 0, time.UTC), time.Date(2026, 5, 1, 0, 1, 0, 0, time.UTC),
			[]string{"2026-04-30..2026-04-30", "2026-05-01..2026-05-01"}},
		{"own location's date", time.Date(2026, 6, 1, 0, 30, 0, 0, time.FixedZone("UTC+2", 7200)), date(2026, 6, 1),
			[]string{"2026-06-01..2026-06-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := MonthWindows(tt.from, tt.to)
			var got []string
			for _, w := range ws {
				got = append(got, w.String())
				if err := w.Validate(); err != nil {
					t.Errorf("window %s invalid: %v", w, err)
				}
				if w.Start.Location() != time.UTC || w.Start.Hour() != 0 || w.End.Location() != time.UTC {
					t.Errorf("window %s bounds are not UTC midnights", w)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	// A two-year range is 24 windows without gaps or overlaps.
	ws := MonthWindows(date(2024, 1, 1), date(2025, 12, 31))
	if len(ws) != 24 {
		t.Fatalf("two years: %d windows", len(ws))
	}
	for i := 1; i < len(ws); i++ {
		if !ws[i].Start.Equal(ws[i-1].End.AddDate(0, 0, 1)) {
			t.Errorf("gap or overlap between %s and %s", ws[i-1], ws[i])
		}
	}
}

func TestWindowValidate(t *testing.T) {
	tests := []struct {
		start, end time.Time
		want       error
	}{
		{date(2026, 1, 1), date(2026, 1, 31), nil},
		{date(2026, 1, 1), date(2026, 1, 1), nil},
		{date(2026, 1, 15), date(2026, 2, 14), nil},
		{date(2026, 1, 31), date(2026, 2, 27), nil},
		{date(2026, 1, 1), date(2026, 2, 1), ErrWindowTooLong},
		{date(2026, 1, 15), date(2026, 2, 15), ErrWindowTooLong},
		{date(2026, 1, 31), date(2026, 2, 28), ErrWindowTooLong},
		{date(2026, 1, 1), date(2026, 6, 30), ErrWindowTooLong},
		{date(2026, 2, 1), date(2026, 1, 31), ErrWindowTooLong},
		{time.Time{}, date(2026, 1, 31), ErrInvalidArgument},
		{date(2026, 1, 1), time.Time{}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		w := Window{Start: tt.start, End: tt.end}
		if err := w.Validate(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", w, err, tt.want)
		}
	}
}

// queryRecorder answers every list request with one empty last page and records its query.
func queryRecorder(t *testing.T) (*fakeAPI, *Client, func() url.Values) {
	var q url.Values
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		q = r.URL.Query()
		writePage(w, []any{}, "")
	})
	c, _ := f.start(Config{})
	return f, c, func() url.Values { return q }
}

func TestPersonFilterQuery(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		f    PersonFilter
		want string // url.Values.Encode()
		err  error
	}{
		{"default limit", PersonFilter{}, "limit=50", nil},
		{"every filter", PersonFilter{
			IDs: []string{"1", "2"}, Emails: []string{"a@x.de", "b+c@x.de"},
			FirstName: "Zoë", LastName: "O'Brien", PreferredName: "Z", Status: "ACTIVE",
			CreatedAt: ts, CreatedAfter: ts.Add(-time.Hour), CreatedBefore: ts.Add(time.Hour),
			UpdatedAt: ts, UpdatedAfter: ts.Add(-2 * time.Hour), UpdatedBefore: ts.Add(2 * time.Hour),
			Limit: 7,
		}, url.Values{
			"id": {"1,2"}, "email": {"a@x.de,b+c@x.de"}, "first_name": {"Zoë"}, "last_name": {"O'Brien"},
			"preferred_name": {"Z"}, "status": {"ACTIVE"},
			"created_at": {"2026-01-02T02:04:05Z"}, "created_at.gt": {"2026-01-02T01:04:05Z"},
			"created_at.lt": {"2026-01-02T03:04:05Z"}, "updated_at": {"2026-01-02T02:04:05Z"},
			"updated_at.gt": {"2026-01-02T00:04:05Z"}, "updated_at.lt": {"2026-01-02T04:04:05Z"},
			"limit": {"7"},
		}.Encode(), nil},
		{"limit 1", PersonFilter{Limit: 1}, "limit=1", nil},
		{"limit 50", PersonFilter{Limit: 50}, "limit=50", nil},
		{"limit 51", PersonFilter{Limit: 51}, "", ErrInvalidArgument},
		{"limit -1", PersonFilter{Limit: -1}, "", ErrInvalidArgument},
		{"empty id", PersonFilter{IDs: []string{"1", ""}}, "", ErrInvalidArgument},
		{"comma in email", PersonFilter{Emails: []string{"a,b@x.de"}}, "", ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c, query := queryRecorder(t)
			_, err := collectPersons(t, c, tt.f)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				if f.apiCalls.Load() != 0 {
					t.Error("an invalid filter was sent")
				}
				if strings.Contains(err.Error(), "a,b@x.de") {
					t.Errorf("error %q quotes a filter value", err)
				}
				return
			}
			if got := query().Encode(); got != tt.want {
				t.Errorf("query = %s\nwant    %s", got, tt.want)
			}
		})
	}
}

func TestEmploymentAndCompensationQueries(t *testing.T) {
	ts := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	t.Run("employments", func(t *testing.T) {
		f, c, query := queryRecorder(t)
		err := c.ListEmployments(t.Context(), "42", EmploymentFilter{UpdatedAt: ts, UpdatedAfter: ts, UpdatedBefore: ts, IDs: []string{"e1"}},
			func([]Employment) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"limit": {"50"}, "id": {"e1"}, "updated_at": {"2026-05-01T12:00:00Z"},
			"updated_at.gt": {"2026-05-01T12:00:00Z"}, "updated_at.lt": {"2026-05-01T12:00:00Z"}}.Encode()
		if got := query().Encode(); got != want {
			t.Errorf("query = %s, want %s", got, want)
		}
		if p := f.lastRequest().URL.Path; p != "/v2/persons/42/employments" {
			t.Errorf("path = %s", p)
		}
		if err := c.ListEmployments(t.Context(), "", EmploymentFilter{}, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("empty person id: err = %v", err)
		}
	})
	t.Run("compensations", func(t *testing.T) {
		f, c, query := queryRecorder(t)
		err := c.ListCompensations(t.Context(), CompensationFilter{
			Window:    MonthWindows(date(2026, 2, 1), date(2026, 2, 28))[0],
			PersonIDs: []string{"1", "2"}, LegalEntityIDs: []string{"le"},
		}, func([]Compensation) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"start_date": {"2026-02-01"}, "end_date": {"2026-02-28"}, "limit": {"100"},
			"person.id": {"1,2"}, "legal_entity.id": {"le"}}.Encode()
		if got := query().Encode(); got != want {
			t.Errorf("query = %s, want %s", got, want)
		}
		calls := f.apiCalls.Load()
		for _, bad := range []CompensationFilter{
			{Window: Window{date(2026, 1, 1), date(2026, 3, 31)}},
			{Window: Window{date(2026, 1, 10), date(2026, 1, 9)}},
			{Window: Window{date(2026, 1, 1), date(2026, 1, 31)}, Limit: 101},
			{},
		} {
			if err := c.ListCompensations(t.Context(), bad, nil); err == nil {
				t.Errorf("%+v: want error", bad)
			}
		}
		err = c.ListCompensations(t.Context(), CompensationFilter{Window: Window{date(2026, 1, 1), date(2026, 3, 31)}}, nil)
		if !errors.Is(err, ErrWindowTooLong) || !strings.Contains(err.Error(), "longer than one month") {
			t.Errorf("err = %v, want ErrWindowTooLong", err)
		}
		if f.apiCalls.Load() != calls {
			t.Error("an invalid compensation filter was sent")
		}

		// Compensations spend their own budget, not the persons budget.
		slow := f.client(Config{BaseURL: c.base.String(), RateLimit: Rate{PerMinute: 1, Burst: 5}, CompensationRateLimit: Rate{PerMinute: 1, Burst: 5}})
		if err := slow.ListCompensations(t.Context(), CompensationFilter{Window: Window{date(2026, 1, 1), date(2026, 1, 31)}},
			func([]Compensation) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if p, cp := slow.persons.lim.Tokens(), slow.comps.lim.Tokens(); p < 3.99 || cp > 3.01 {
			t.Errorf("tokens left: persons %v, compensations %v; want 4 and 3 (only the compensations budget spent)", p, cp)
		}
	})
}

func TestDecodingKeepsExactValues(t *testing.T) {
	const compensations = `{"_data":[
		{"id":"c1","person":{"id":"1"},"legal_entity":{"id":"le"},"type":{"id":"t","name":"Salary","category":"FIXED"},
		 "amount":{"value":12345678901234567890.12,"currency":"EUR"},"effective_from":"2026-01-01","interval":"MONTHLY",
		 "weekly_working_hours":40,"full_time_weekly_working_hours":"40.0","new_field":{"x":[1,2]}},
		{"person":{"id":"2"},"amount":{"value":"0.1","currency":"EUR"}},
		{"person":{"id":"3"},"amount":{"value":0.1}},
		{"person":{"id":"4"},"amount":{"value":null},"weekly_working_hours":null},
		{"person":{"id":"5"},"amount":{"value":1e-7}},
		{"person":{"id":"6"}}
	],"_meta":{"links":{"self":{"href":"/v2/compensations"}}}}`
	const personsPage = `{"_data":[{"id":"1","custom_attributes":[
		{"id":"a1","type":"string","value":"text"},
		{"id":"a2","type":"DECIMAL","value":1234567890.1234567890},
		{"id":"a3","type":"boolean","value":true},
		{"id":"a4","type":"multi-select","value":["a","b"]},
		{"id":"a5","type":"list","value":[{"k":"v"}]},
		{"id":"a6","type":"date","value":null},
		{"id":"a7","type":"object","value":{"nested":{"n":1}}},
		{"id":"a8","type":"integer","value":"0042"}
	]}]}`
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v2/compensations":
			fmt.Fprint(w, compensations)
		default:
			fmt.Fprint(w, personsPage)
		}
	})
	c, _ := f.start(Config{})
	var got []Compensation
	err := c.ListCompensations(t.Context(), CompensationFilter{Window: Window{date(2026, 1, 1), date(2026, 1, 31)}},
		func(cs []Compensation) error { got = append(got, cs...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []Decimal{"12345678901234567890.12", "0.1", "0.1", "", "1e-7", ""}
	if len(got) != len(want) {
		t.Fatalf("%d compensations, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Amount.Value != w {
			t.Errorf("compensation %d: amount %q, want %q", i, got[i].Amount.Value, w)
		}
	}
	c0 := got[0]
	if c0.ID != "c1" || c0.Type.Category != "FIXED" || c0.Amount.Currency != "EUR" || c0.Interval != "MONTHLY" ||
		*c0.WeeklyWorkingHours != "40" || *c0.FullTimeWeeklyWorkingHours != "40.0" || c0.LegalEntity.ID != "le" {
		t.Errorf("compensation 0 = %+v", c0)
	}
	if got[3].WeeklyWorkingHours != nil && *got[3].WeeklyWorkingHours != "" {
		t.Errorf("null hours decoded as %q", *got[3].WeeklyWorkingHours)
	}

	var ps []Person
	if err := c.ListPersons(t.Context(), PersonFilter{}, func(p []Person) error { ps = append(ps, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]struct{ typ, raw string }{
		"a1": {"STRING", `"text"`},
		"a2": {"DECIMAL", `1234567890.1234567890`},
		"a3": {"BOOLEAN", `true`},
		"a4": {"MULTI-SELECT", `["a","b"]`},
		"a5": {"LIST", `[{"k":"v"}]`},
		"a6": {"DATE", ``},
		"a7": {"OBJECT", `{"nested":{"n":1}}`},
		"a8": {"INTEGER", `"0042"`},
	}
	if len(ps) != 1 || len(ps[0].CustomAttributes) != len(wantAttrs) {
		t.Fatalf("persons = %+v", ps)
	}
	for _, a := range ps[0].CustomAttributes {
		w := wantAttrs[a.ID]
		if a.Type != w.typ || string(a.Value) != w.raw {
			t.Errorf("attribute %s: type %q value %s, want %q %s", a.ID, a.Type, a.Value, w.typ, w.raw)
		}
	}
	// Re-encoding keeps the exact number, too.
	b, err := json.Marshal(got[0].Amount)
	if err != nil || string(b) != `{"value":12345678901234567890.12,"currency":"EUR"}` {
		t.Errorf("re-encoded amount = %s, %v", b, err)
	}
}

func TestDecodeErrorIsPermanentAndQuiet(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"_data":[{"person":"ninety thousand","amount":{"value":"1"}}]}`)
	})
	c, _ := f.start(Config{})
	err := c.ListCompensations(t.Context(), CompensationFilter{Window: Window{date(2026, 1, 1), date(2026, 1, 31)}},
		func([]Compensation) error { return nil })
	if !errors.Is(err, ErrDecode) || Retryable(err) {
		t.Fatalf("err = %v, want a non-retryable ErrDecode", err)
	}
	if strings.Contains(err.Error(), "ninety") {
		t.Errorf("error %q quotes the value", err)
	}
	if f.apiCalls.Load() != 1 {
		t.Errorf("API calls = %d, want 1 (a shape error is not retried)", f.apiCalls.Load())
	}
}
