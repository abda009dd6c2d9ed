package change

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

var testPolicyKey = []byte("0123456789abcdef0123456789abcdef")

func TestParsePolicyFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/policy/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePolicy(b, testPolicyKey)
			good := strings.HasPrefix(filepath.Base(f), "good-")
			if good && err != nil {
				t.Fatalf("good policy refused: %v", err)
			}
			if !good {
				var pe *PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("bad policy: got %v (%T), want a *PolicyError", err, err)
				}
				return
			}
			if p.Fingerprint() == "" {
				t.Error("no fingerprint")
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		key        []byte
		want       string // in the error
	}{
		{"unknown field", "persons:\n  e_mail: drop\n", nil, `persons.e_mail: no such field`},
		{"unknown nested field", "persons:\n  employments.*.salary: drop\n", nil, `persons.employments.*.salary: no such field`},
		{"field below text", "persons:\n  email.domain: drop\n", nil, `persons.email.domain: no such field`},
		{"unknown keep field", "compensations:\n  amount_eur: keep\n", nil, `compensations.amount_eur: no such field`},
		{"unknown entity", "people:\n  email: drop\n", nil, `people: no such entity`},
		{"employment's person", "employments:\n  person_id: drop\n", nil, `employments.person_id: cannot be dropped or hashed`},
		{"unknown action", "persons:\n  email: remove\n", nil, `persons.email: unknown action "remove"`},
		{"hash a date", "persons:\n  employments.*.start_date: hash\n", testPolicyKey, `is a date in the schema`},
		{"hash an instant", "persons:\n  created_at: hash\n", testPolicyKey, `is a timestamp in the schema`},
		{"hash a decimal", "compensations:\n  weekly_working_hours: hash\n", testPolicyKey, `is a decimal in the schema`},
		{"drop the amount", "compensations:\n  amount: drop\n", nil, `compensations.amount: the schema requires a value`},
		{"drop the currency", "compensations:\n  currency: drop\n", nil, `the schema requires a value`},
		{"drop an id", "persons:\n  id: drop\n", nil, `persons.id: cannot be dropped or hashed: it is the identity`},
		{"hash an employment id", "persons:\n  employments.*.id: hash\n", testPolicyKey, `it is the identity`},
		{"person_id", "compensations:\n  person_id: hash\n", testPolicyKey, `compensations.person_id: cannot be dropped or hashed`},
		{"updated_at", "persons:\n  updated_at: drop\n", nil, `persons.updated_at: cannot be dropped or hashed: incremental syncs`},
		{"all custom attributes by star", "persons:\n  custom_attributes.*: drop\n", nil, `custom_attributes.<id>`},
		{"part of a custom attribute", "persons:\n  custom_attributes.dynamic_1.label: drop\n", nil, `custom_attributes.<id>`},
		{"employments without star", "persons:\n  employments.status: drop\n", nil, `employments.*.<field>`},
		{"hash a list", "persons:\n  employments: hash\n", testPolicyKey, `is a list`},
		{"hash a record", "persons:\n  employments.*.termination: hash\n", testPolicyKey, `is a record`},
		{"hash without key", "persons:\n  email: hash\n", nil, `hash key is missing or shorter than 16 bytes`},
		{"hash with short key", "persons:\n  email: hash\n", []byte("short"), `hash key is missing or shorter`},
		{"not a map", "- persons\n", nil, `not a policy`},
		{"fields not a map", "persons: email\n", nil, `not a policy`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.yaml), tc.key)
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PolicyError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParsePolicyAccepts(t *testing.T) {
	p, err := ParsePolicy([]byte(`
persons:
  email: HASH
  first_name: drop
  custom_attributes.dynamic_9: drop
  custom_attributes: keep
  employments: keep
  employments.*.termination: drop
  employments.*.cost_centers.*.weight: drop
  employments.*.org_units: drop
  employments.*.supervisor_id: hash
  created_at: drop
  id: keep
compensations:
  type_name: hash
  currency: hash
  weekly_working_hours: drop
  personio_id: drop
`), testPolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Summary()
	if got := strings.Join(s.Hash[Persons], ","); got != "email,employments.*.supervisor_id" {
		t.Errorf("hashed persons fields = %s", got)
	}
	if got := strings.Join(s.Drop[Compensations], ","); got != "personio_id,weekly_working_hours" {
		t.Errorf("dropped compensations fields = %s", got)
	}
	// keep rules change nothing, so they leave the fingerprint alone; the key does not.
	q, _ := ParsePolicy([]byte("persons:\n  email: hash\n  first_name: drop\n  custom_attributes.dynamic_9: drop\n"+
		"  employments.*.termination: drop\n  employments.*.cost_centers.*.weight: drop\n  employments.*.org_units: drop\n"+
		"  employments.*.supervisor_id: hash\n  created_at: drop\ncompensations:\n  type_name: hash\n  currency: hash\n"+
		"  weekly_working_hours: drop\n  personio_id: drop\n"), testPolicyKey)
	if q == nil || q.Fingerprint() != p.Fingerprint() {
		t.Errorf("keep rules changed the fingerprint")
	}
	k, _ := ParsePolicy([]byte("persons:\n  email: hash\n"), []byte("another key of 32 bytes, or so.."))
	k2, _ := ParsePolicy([]byte("persons:\n  email: hash\n"), testPolicyKey)
	if k.Fingerprint() == k2.Fingerprint() {
		t.Errorf("another hash key, same fingerprint")
	}
	if strings.Contains(k2.Fingerprint(), hex.EncodeToString(testPolicyKey)) || strings.Contains(k2.Fingerprint(), string(testPolicyKey)) {
		t.Errorf("fingerprint shows the key")
	}
	empty, err := ParsePolicy(nil, nil)
	if err != nil || empty.Active() {
		t.Errorf("empty policy: %v, active %v", err, empty.Active())
	}
}

// markerPerson carries a distinctive marker in every field a policy may drop or hash.
// general makes it need the general path (custom attributes out of id order).
func markerPerson(general bool) (personio.Person, []personio.Employment) {
	hours := personio.Decimal("40")
	p := personio.Person{
		ID:            "987654321",
		Email:         "ZZMARK-mail@example.com",
		FirstName:     "ZZMARK-first",
		LastName:      "ZZMARK-last",
		PreferredName: "ZZMARK-preferred",
		Gender:        "ZZMARK-gender",
		Status:        "ACTIVE",
		CreatedAt:     "2024-01-02T03:04:05Z",
		UpdatedAt:     "2026-01-02T03:04:05Z",
		CustomAttributes: []personio.CustomAttribute{
			{ID: "dynamic_iban", Type: "STRING", Label: "IBAN", Value: json.RawMessage(`"ZZMARK-iban-DE001"`)},
			{ID: "dynamic_ssn", Type: "STRING", Label: "Social security number", Value: json.RawMessage(`"ZZMARK-ssn-123"`)},
			{ID: "dynamic_tax_id", Type: "STRING", Label: "Tax id", Value: json.RawMessage(`"ZZMARK-tax-999"`)},
		},
		Employments: []personio.Ref{{ID: "555000111"}},
	}
	if general {
		a := p.CustomAttributes
		a[0], a[2] = a[2], a[0]
	}
	emps := []personio.Employment{{
		ID: "555000111", Status: "ACTIVE", EmploymentStartDate: "2024-01-01", WeeklyWorkingHours: &hours,
		Position:    &personio.Position{Title: "ZZMARK-title"},
		Termination: &personio.Termination{Type: "ZZMARK-termtype", Reason: "ZZMARK-reason", TerminationDate: "2026-12-31"},
	}}
	return p, emps
}

const payrollPolicy = `
persons:
  email: hash
  first_name: drop
  last_name: drop
  preferred_name: drop
  gender: drop
  custom_attributes.dynamic_iban: drop
  custom_attributes.dynamic_tax_id: drop
  custom_attributes.dynamic_ssn: hash
  employments.*.position_title: drop
  employments.*.termination.reason: drop
  employments.*.termination.type: hash
`

func hmacHex(s string) string {
	m := hmac.New(sha256.New, testPolicyKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// TestPolicyKeepsValuesOutOfTheEncoding normalises two persons (one of common shape, one with
// lists out of order and JSON to re-encode), with and without a policy: with it, no dropped
// or hashed value's bytes are in the Avro encoding (what the hash, the state and Kafka get),
// and the hashes are HMAC-SHA256 of the normal-form text.
func TestPolicyKeepsValuesOutOfTheEncoding(t *testing.T) {
	pol, err := ParsePolicy([]byte(payrollPolicy), testPolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	hidden := []string{"ZZMARK-mail", "ZZMARK-first", "ZZMARK-last", "ZZMARK-preferred", "ZZMARK-gender",
		"ZZMARK-iban", "ZZMARK-tax", "ZZMARK-ssn", "ZZMARK-title", "ZZMARK-reason", "ZZMARK-termtype"}
	for _, general := range []bool{false, true} {
		name := map[bool]string{false: "common", true: "unusual"}[general]
		t.Run(name, func(t *testing.T) {
			p, emps := markerPerson(general)
			var plain Normalizer
			rec, err := plain.Person(p, emps)
			if err != nil {
				t.Fatal(err)
			}
			data, err := AppendRecord(nil, rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range hidden {
				if !bytes.Contains(bytes.ToLower(data), []byte(strings.ToLower(m))) {
					t.Fatalf("without a policy %s is missing: the test person does not carry it", m)
				}
			}

			var n Normalizer
			n.UsePolicy(pol)
			person, err := n.Person(p, emps)
			if err != nil {
				t.Fatal(err)
			}
			data, h, err := AppendRecordHash(nil, person)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range hidden {
				if bytes.Contains(bytes.ToLower(data), []byte(strings.ToLower(m))) {
					t.Errorf("%s is in the encoding although the policy drops or hashes it", m)
				}
			}
			if person.Email == nil || *person.Email != hmacHex("zzmark-mail@example.com") {
				t.Errorf("email = %v, want the HMAC of the lower-cased address", person.Email)
			}
			if person.FirstName != nil || person.Gender != nil {
				t.Errorf("dropped fields are not null")
			}
			var ssn, iban *CustomAttribute
			for i := range person.CustomAttributes {
				switch a := &person.CustomAttributes[i]; a.ID {
				case "dynamic_ssn":
					ssn = a
				case "dynamic_iban":
					iban = a
				}
			}
			if ssn == nil || ssn.ValueJSON == nil || *ssn.ValueJSON != `"`+hmacHex(`"ZZMARK-ssn-123"`)+`"` {
				t.Errorf("ssn = %+v, want the HMAC of its JSON text as a JSON string", ssn)
			}
			if iban == nil || iban.ValueJSON != nil || iban.Label == nil || *iban.Label != "IBAN" {
				t.Errorf("iban = %+v, want the attribute with a null value", iban)
			}
			if tm := person.Employments[0].Termination; tm == nil || tm.Reason != nil || tm.Type == nil || *tm.Type != hmacHex("ZZMARK-termtype") {
				t.Errorf("termination = %+v", tm)
			}

			// Scrubbing what was published under the policy changes nothing (hashes are not
			// hashed again), so a before image of this policy stays as it was.
			back, err := UnmarshalRecord(Persons, data)
			if err != nil {
				t.Fatal(err)
			}
			if pol.Scrub(back) {
				t.Errorf("Scrub changed a record published under the same policy")
			}
			// A record published before the policy is scrubbed to exactly what the policy gives.
			var old Normalizer
			before, _ := old.Person(p, emps)
			if !pol.Scrub(before) {
				t.Fatal("Scrub changed nothing in a record published without the policy")
			}
			sdata, sh, _ := AppendRecordHash(nil, before)
			if !bytes.Equal(sdata, data) || sh != h {
				t.Errorf("a scrubbed before image differs from the record under the policy")
			}
		})
	}
}

func TestPolicyCompensation(t *testing.T) {
	pol, err := ParsePolicy([]byte("compensations:\n  type_name: hash\n  weekly_working_hours: drop\n  legal_entity_id: drop\n"), testPolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	hours := personio.Decimal("38.5")
	c := personio.Compensation{ID: "c1", Person: personio.Ref{ID: "987654321"}, LegalEntity: personio.Ref{ID: "ZZMARK-le"},
		Type:   personio.CompensationType{ID: "t1", Name: "ZZMARK-type"},
		Amount: personio.Money{Value: "98765.4321", Currency: "EUR"}, EffectiveFrom: "2026-11-01", Interval: "monthly",
		WeeklyWorkingHours: &hours}
	rec, err := NewCompensation(c)
	if err != nil {
		t.Fatal(err)
	}
	pol.Apply(rec)
	data, err := AppendRecord(nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("ZZMARK")) {
		t.Errorf("a dropped or hashed value is in the encoding")
	}
	if rec.WeeklyWorkingHours != nil || rec.LegalEntityID != nil || rec.TypeName == nil || *rec.TypeName != hmacHex("ZZMARK-type") {
		t.Errorf("compensation under the policy: %+v", rec)
	}
	if rec.Amount.RatString() != "987654321/10000" || rec.ID != "c1" {
		t.Errorf("kept fields changed: %s %s", rec.Amount.RatString(), rec.ID)
	}
	var nilPolicy *Policy
	if nilPolicy.Apply(rec) || nilPolicy.Active() || nilPolicy.Fingerprint() != "" {
		t.Errorf("a nil policy did something")
	}
}

// The README's example policy is a valid policy.
func TestExamplePolicyParses(t *testing.T) {
	b, err := os.ReadFile("../../docs/field-policy.payroll.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy(b, testPolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Fields(ActionHash)[Persons], ","); got != "custom_attributes.dynamic_1212,email" {
		t.Errorf("hashed fields %s", got)
	}
}
