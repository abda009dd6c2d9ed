package change

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// TestParseDecimalFastPath checks that the plain-text fast path accepts, rejects and converts
// exactly as the general path does.
func TestParseDecimalFastPath(t *testing.T) {
	inputs := []string{"0", "-0", "+0", "1", "-1", "007", "1.5", "1.50000", "0.0001", "0.00001", "0.00010",
		"99999.9999", "100000", "100000.0000", "123456789012345.6789", "999999999999999.9999",
		"1000000000000000", "-999999999999999.9999", "1.", ".5", "1e3", "1.5E-2", "12345678901234567890",
		"999999999999999999", "0.000000000000000001", "1.23456", "-", "+", "", "1..2", "1.2.3", "١"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		s := ""
		if rng.IntN(4) == 0 {
			s = "-"
		}
		s += fmt.Sprint(rng.Int64N(1_000_000_000_000))
		if rng.IntN(3) > 0 {
			s += "."
			for range 1 + rng.IntN(7) {
				s += fmt.Sprint(rng.IntN(10))
			}
		}
		inputs = append(inputs, s)
	}
	for _, prec := range [][2]int{{AmountPrecision, AmountScale}, {HoursPrecision, HoursScale}, {4, 0}, {19, 18}} {
		for _, in := range inputs {
			fast, ok, ferr := parsePlainDecimal(in, prec[0], prec[1])
			if !ok {
				continue
			}
			slow, serr := parseDecimalSlow(in, prec[0], prec[1])
			if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
				t.Fatalf("%q (%d,%d): fast error %v, general error %v", in, prec[0], prec[1], ferr, serr)
			}
			if ferr == nil && fast.Cmp(slow) != 0 {
				t.Fatalf("%q (%d,%d): fast %s, general %s", in, prec[0], prec[1], fast.RatString(), slow.RatString())
			}
			// The normalizer's slab path must give the same value in the same lowest terms.
			n := normalizer{entity: Persons, id: "p"}
			slab, nerr := n.parseDecimal(in, prec[0], prec[1])
			if (nerr == nil) != (serr == nil) || (nerr != nil && nerr.Error() != serr.Error()) {
				t.Fatalf("%q (%d,%d): slab error %v, general error %v", in, prec[0], prec[1], nerr, serr)
			}
			if nerr == nil && (slab.Num().Cmp(slow.Num()) != 0 || slab.Denom().Cmp(slow.Denom()) != 0 ||
				slab.RatString() != slow.RatString()) {
				t.Fatalf("%q (%d,%d): slab %s, general %s", in, prec[0], prec[1], slab.RatString(), slow.RatString())
			}
		}
	}
}

// TestParseDateFastPath checks that the date fast path accepts, rejects and converts exactly
// as time.Parse does.
func TestParseDateFastPath(t *testing.T) {
	inputs := []string{"2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2024-04-31", "2024-12-31",
		"2024-13-01", "2024-00-10", "2024-01-00", "0000-01-01", "9999-12-31", "2024-1-01", "2024-01-1",
		"24-01-01x", "2024/01/01", "2024-01-01", "+024-01-01", "2024-+1-01", "2024-01-+1", "２０２４-01-01",
		"2024-01-0a", "", "2024-01-011", " 2024-01-01"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02d", rng.IntN(10000), rng.IntN(14), rng.IntN(33)))
	}
	for _, in := range inputs {
		got, ok := parseDate(in)
		want, err := time.Parse(time.DateOnly, in)
		if ok != (err == nil) || !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("%q: got %v %v, time.Parse %v %v", in, got, ok, want, err)
		}
	}
}

// TestCanonicalScalar checks that the scalars kept as sent are exactly what re-encoding gives.
func TestCanonicalScalar(t *testing.T) {
	inputs := []string{`true`, `false`, `0`, `-0`, `12`, `1.50`, `1e5`, `-2.5E-3`, `"plain text"`, `"a<b>&c"`,
		`"with \"quote\""`, `"tab\there"`, `"ünïcode"`, `"\u00fc"`, `"\u2028"`, `01`, `1.`, `.5`, `+1`, `"`, `""`,
		`"unterminated`, `-`, `1e`, `[1]`, `{"a":1}`, `nul`, `"a/b"`,
		`[]`, `{}`, `["a","b"]`, `["b","a"]`, `[ "a"]`, `[1,2.50,true,null]`, `[1,]`, `[,1]`, `[1 2]`, `["a"`,
		`{"a":1,"b":[{"c":"d"}]}`, `{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"a":1 }`, `{"a" :1}`, `{"a":}`, `{"a"}`,
		`{"id":"x","label":"Team A","value":{"nested":[1,{"k":null}]}}`, `[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]`,
		`{"Z":1,"a":2}`, `{"a":1,"Z":2}`, `["é"]`, `{"a":01}`, `[nul]`, `[truex]`, `{"a":1}}`, `[1]]`}
	for _, in := range inputs {
		n := normalizer{entity: Persons, id: "p"}
		got := n.canonicalJSON("", "f", json.RawMessage(in))
		slow := normalizer{entity: Persons, id: "p"}
		want := slow.canonicalJSONSlow("f", json.RawMessage(in))
		if (got == nil) != (want == nil) || (got != nil && *got != *want) || (n.err == nil) != (slow.err == nil) {
			t.Errorf("%s: got %v (err %v), want %v (err %v)", in, deref(got), n.err, deref(want), slow.err)
		}
	}
}

// TestAttributeValuesShareText checks that attribute values cut from one joined text come out
// as each value alone would, whatever the space, nulls and slow-path values around them.
func TestAttributeValuesShareText(t *testing.T) {
	values := []string{` 1 `, `null`, `{"b":1,"a":2}`, "\t\"s\"\n", ``, `  [1, 2] `, `"ü"`, `true`, `{"a":[1,{"c":"d"}]}`}
	var p personio.Person
	p.ID = "p"
	for i, v := range values {
		p.CustomAttributes = append(p.CustomAttributes, personio.CustomAttribute{ID: fmt.Sprintf("a%d", i), Value: json.RawMessage(v)})
	}
	got, err := NewPerson(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		slow := normalizer{entity: Persons, id: "p"}
		want := slow.canonicalJSONSlow("f", json.RawMessage(v))
		if g := got.CustomAttributes[i].ValueJSON; (g == nil) != (want == nil) || (g != nil && *g != *want) {
			t.Errorf("value %q: got %v, want %v", v, deref(g), deref(want))
		}
	}
}

// TestEmploymentListsKeepApart checks that the employments' org unit and cost center lists,
// cut from one slab, hold only their own elements and stay empty rather than absent.
func TestEmploymentListsKeepApart(t *testing.T) {
	w := personio.Decimal("0.5")
	emps := []personio.Employment{
		{ID: "1", OrgUnits: []personio.OrgUnit{{ID: "b", Type: "team"}, {ID: "a", Type: "department"}}},
		{ID: "2"},
		{ID: "3", OrgUnits: []personio.OrgUnit{{ID: "c"}, {ID: "c"}}, CostCenters: []personio.CostCenter{{ID: "x", Weight: &w}}},
		{ID: "4", OrgUnits: []personio.OrgUnit{{ID: "d"}}},
	}
	got, err := NewPerson(personio.Person{ID: "p"}, emps)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"1": {"a,b", ""}, "2": {"", ""}, "3": {"c", "x"}, "4": {"d", ""}}
	for _, e := range got.Employments {
		var ous, ccs []string
		for _, u := range e.OrgUnits {
			ous = append(ous, u.ID)
		}
		for _, c := range e.CostCenters {
			ccs = append(ccs, c.ID)
		}
		if g := [2]string{strings.Join(ous, ","), strings.Join(ccs, ",")}; g != want[e.ID] {
			t.Errorf("employment %s: org units and cost centers %q, want %q", e.ID, g, want[e.ID])
		}
		if e.OrgUnits == nil || e.CostCenters == nil {
			t.Errorf("employment %s: a list is nil, want empty", e.ID)
		}
	}
}

// TestNormalizerMatchesNewPerson: persons carved from a Normalizer's shared blocks equal
// those NewPerson makes one by one, after the whole listing went through it (so no person's
// values were overwritten by a later one's), and appending to one person's lists leaves the
// next person alone.
func TestNormalizerMatchesNewPerson(t *testing.T) {
	truth := personiotest.NewTruth(t, personiotest.Options{Persons: 400, Seed: 3})
	var norm Normalizer
	var carved []*Person
	for _, p := range truth.Persons {
		r, err := norm.Person(p, truth.Employments[p.ID])
		if err != nil {
			t.Fatal(err)
		}
		carved = append(carved, r)
	}
	for i, r := range carved {
		_ = append(r.CustomAttributes, CustomAttribute{ID: "appended"})
		for j := range r.Employments {
			_ = append(r.Employments[j].OrgUnits, OrgUnit{ID: "appended"})
			_ = append(r.Employments[j].CostCenters, CostCenter{ID: "appended"})
		}
		_ = append(r.Employments, Employment{ID: "appended"})
		if i > 0 {
			want, err := NewPerson(truth.Persons[i-1], truth.Employments[truth.Persons[i-1].ID])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(carved[i-1], want) {
				t.Fatalf("person %d differs from NewPerson's", i-1)
			}
		}
	}
	if len(carved) < 400 {
		t.Fatalf("%d persons", len(carved))
	}
}
