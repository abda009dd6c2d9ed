package personiotest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func truthJSON(t *testing.T, opts Options) []byte {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := json.Marshal(s.Truth())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeterminism(t *testing.T) {
	a := truthJSON(t, fixed(150, 42))
	b := truthJSON(t, fixed(150, 42))
	if !bytes.Equal(a, b) {
		t.Fatal("same seed produced different data")
	}
	c := truthJSON(t, fixed(150, 43))
	if bytes.Equal(a, c) {
		t.Fatal("different seeds produced the same data")
	}
	// Seed 0 is a seed like any other (gofakeit would pick a random one).
	if !bytes.Equal(truthJSON(t, fixed(20, 0)), truthJSON(t, fixed(20, 0))) {
		t.Fatal("seed 0 is not deterministic")
	}
}

func TestDatasetIsRealistic(t *testing.T) {
	s, err := New(fixed(300, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := s.Truth()
	if len(tr.Persons) != 300 {
		t.Fatalf("persons = %d, want 300", len(tr.Persons))
	}
	emails := map[string]bool{}
	statuses := map[string]int{}
	genders := map[string]int{}
	attrTypes := map[string]bool{}
	var pictures, preferred, terminatedEmps, twoEmps, supervised int
	empStatuses := map[string]int{}
	for _, p := range tr.Persons {
		if p.FirstName == "" || p.LastName == "" || !strings.Contains(p.Email, "@") {
			t.Fatalf("person %s lacks a name or email: %+v", p.ID, p)
		}
		if emails[p.Email] {
			t.Fatalf("duplicate email %s", p.Email)
		}
		emails[p.Email] = true
		statuses[p.Status]++
		genders[p.Gender]++
		if p.ProfilePicture != nil {
			pictures++
		}
		if p.PreferredName != "" {
			preferred++
		}
		for _, a := range p.CustomAttributes {
			attrTypes[a.Type] = true
		}
		created, err1 := time.Parse(time.RFC3339, p.CreatedAt)
		updated, err2 := time.Parse(time.RFC3339, p.UpdatedAt)
		if err1 != nil || err2 != nil || updated.Before(created) || updated.After(testNow) {
			t.Fatalf("person %s: bad timestamps %q %q", p.ID, p.CreatedAt, p.UpdatedAt)
		}
		if !strings.HasSuffix(p.CreatedAt, "Z") {
			t.Fatalf("created_at %q is not UTC", p.CreatedAt)
		}
		emps := tr.Employments[p.ID]
		if len(emps) < 1 || len(emps) > 2 || len(emps) != len(p.Employments) {
			t.Fatalf("person %s has %d employments (%d refs)", p.ID, len(emps), len(p.Employments))
		}
		if len(emps) == 2 {
			twoEmps++
		}
		for _, e := range emps {
			empStatuses[e.Status]++
			if e.Termination != nil {
				terminatedEmps++
			}
			if e.Supervisor != nil {
				supervised++
				if e.Supervisor.ID == p.ID {
					t.Fatalf("person %s supervises themself", p.ID)
				}
			}
			if e.Position == nil || e.Position.Title == "" || e.LegalEntity == nil || len(e.OrgUnits) != 2 ||
				len(e.CostCenters) == 0 || e.WeeklyWorkingHours == nil || e.EmploymentStartDate == "" {
				t.Fatalf("employment %s incomplete: %+v", e.ID, e)
			}
		}
		if p.Status == "INACTIVE" && emps[len(emps)-1].Termination == nil {
			t.Fatalf("inactive person %s has no termination", p.ID)
		}
	}
	if statuses["ACTIVE"] == 0 || statuses["INACTIVE"] == 0 {
		t.Errorf("statuses = %v, want both ACTIVE and INACTIVE", statuses)
	}
	for _, st := range []string{"ACTIVE", "INACTIVE", "LEAVE"} {
		if empStatuses[st] == 0 {
			t.Errorf("employment statuses = %v, want %s among them", empStatuses, st)
		}
	}
	if len(genders) < 3 {
		t.Errorf("genders = %v, want variety", genders)
	}
	for _, typ := range []string{"STRING", "INT", "DOUBLE", "DATE", "BOOLEAN", "STRING_LIST"} {
		if !attrTypes[typ] {
			t.Errorf("no custom attribute of type %q", typ)
		}
	}
	if pictures == 0 || preferred == 0 || terminatedEmps == 0 || twoEmps == 0 || supervised == 0 {
		t.Errorf("pictures=%d preferred=%d terminated=%d twoEmps=%d supervised=%d; want all > 0",
			pictures, preferred, terminatedEmps, twoEmps, supervised)
	}

	currencies := map[string]bool{}
	intervals := map[string]bool{}
	categories := map[string]bool{}
	ids := map[string]bool{}
	months := map[string]bool{}
	var withCents int
	for _, c := range tr.Compensations {
		if c.ID == "" || ids[c.ID] {
			t.Fatalf("compensation id %q missing or repeated", c.ID)
		}
		ids[c.ID] = true
		currencies[c.Amount.Currency] = true
		intervals[c.Interval] = true
		categories[c.Type.Category] = true
		months[c.EffectiveFrom[:7]] = true
		if strings.Contains(string(c.Amount.Value), ".") {
			withCents++
		}
		if _, ok := s.data.byID[c.Person.ID]; !ok {
			t.Fatalf("compensation %s of unknown person %s", c.ID, c.Person.ID)
		}
	}
	for _, cur := range []string{"EUR", "GBP", "CHF", "USD"} {
		if !currencies[cur] {
			t.Errorf("no compensation in %s", cur)
		}
	}
	for _, iv := range []string{"MONTHLY", "YEARLY", "ONE_TIME", "HOURLY"} {
		if !intervals[iv] {
			t.Errorf("no compensation with interval %s", iv)
		}
	}
	for _, cat := range []string{"FIXED", "BONUS", "ONE_TIME_PAYMENT"} {
		if !categories[cat] {
			t.Errorf("no compensation of category %s", cat)
		}
	}
	if len(months) != 4 {
		t.Errorf("compensation months = %v, want the current and 3 previous", months)
	}
	if withCents == 0 {
		t.Error("no amount has cents")
	}
	var asString int
	for _, c := range s.data.comps {
		if c.amountAsString {
			asString++
			if !bytes.Contains(c.json, []byte(`"value":"`)) {
				t.Fatalf("amount of %s should be served as a string: %s", c.c.ID, c.json)
			}
		}
	}
	if asString == 0 {
		t.Error("no amount is served as a numeric string")
	}
}

func TestCentsText(t *testing.T) {
	for _, tc := range []struct {
		cents int64
		want  string
	}{{425050, "4250.5"}, {512327, "5123.27"}, {500000, "5000"}, {5, "0.05"}, {-150, "-1.5"}} {
		if got := centsText(tc.cents); got != tc.want {
			t.Errorf("centsText(%d) = %q, want %q", tc.cents, got, tc.want)
		}
		if got := parseCents(tc.want); got != tc.cents && tc.cents >= 0 {
			t.Errorf("parseCents(%q) = %d, want %d", tc.want, got, tc.cents)
		}
	}
}

func TestOmitCompensationIDs(t *testing.T) {
	opts := fixed(20, 1)
	opts.OmitCompensationIDs = true
	s := NewTestServer(t, opts)
	c := newAPIClient(t, s)
	p := getPage[map[string]any](c, "/v2/compensations")
	if len(p.Data) == 0 {
		t.Fatal("no compensations")
	}
	for _, item := range p.Data {
		if _, ok := item["id"]; ok {
			t.Fatalf("compensation has an id: %v", item)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"negative persons", Options{Persons: -1}},
		{"probability over 1", Options{Faults: Faults{P500: 1.5}}},
		{"probabilities sum over 1", Options{Faults: Faults{P500: 0.6, Reset: 0.6}}},
		{"negative rate", Options{RateLimit: Rate{PerMinute: -1}}},
		{"negative latency", Options{Faults: Faults{Latency: -time.Second}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
}
