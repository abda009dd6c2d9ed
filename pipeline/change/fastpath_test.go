package change

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
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
		got := n.canonicalJSON("f", json.RawMessage(in))
		slow := normalizer{entity: Persons, id: "p"}
		want := slow.canonicalJSONSlow("f", json.RawMessage(in))
		if (got == nil) != (want == nil) || (got != nil && *got != *want) || (n.err == nil) != (slow.err == nil) {
			t.Errorf("%s: got %v (err %v), want %v (err %v)", in, deref(got), n.err, deref(want), slow.err)
		}
	}
}
