package codec

import (
	"context"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

func TestCheckDecimals(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	base := func(mut func(p *payment)) *payment {
		p := &payment{ID: "x", Amount: big.NewRat(1, 1), PaidOn: time.Unix(0, 0).UTC()}
		mut(p)
		return p
	}
	tests := []struct {
		name     string
		value    any
		wantPath string // "" = no error
	}{
		{name: "fits scale exactly", value: base(func(p *payment) { p.Amount = rat(t, "0.1234") })},
		{name: "one place too many", value: base(func(p *payment) { p.Amount = rat(t, "0.12345") }), wantPath: "amount"},
		{name: "negative fits", value: base(func(p *payment) { p.Amount = rat(t, "-4711.0001") })},
		{name: "negative too precise", value: base(func(p *payment) { p.Amount = rat(t, "-0.00001") }), wantPath: "amount"},
		{name: "zero", value: base(func(p *payment) { p.Amount = new(big.Rat) })},
		{name: "trailing zeros beyond scale are exact", value: base(func(p *payment) { p.Amount = rat(t, "1.50000000") })},
		{name: "one third", value: base(func(p *payment) { p.Amount = big.NewRat(1, 3) }), wantPath: "amount"},
		{name: "max precision 12", value: base(func(p *payment) { p.Amount = rat(t, "-99999999.9999") })},
		{name: "over precision 12", value: base(func(p *payment) { p.Amount = rat(t, "100000000") }), wantPath: "amount"},
		{name: "huge beyond 64 bits", value: base(func(p *payment) { p.Amount = rat(t, "123456789012345678901234567890") }), wantPath: "amount"},
		{name: "huge and too precise", value: base(func(p *payment) { p.Amount = rat(t, "12345678901234567890.123456789") }), wantPath: "amount"},
		{name: "nil amount", value: base(func(p *payment) { p.Amount = nil }), wantPath: "amount"},
		{name: "null bonus", value: base(func(p *payment) { p.Bonus = nil })},
		{name: "bonus pointing at nil", value: base(func(p *payment) { p.Bonus = new(*big.Rat) }), wantPath: "bonus"},
		{name: "bonus too precise", value: base(func(p *payment) { p.Bonus = ptr(rat(t, "0.00001")) }), wantPath: "bonus"},
		{name: "line fits scale 2", value: base(func(p *payment) { p.Lines = []line{{Amount: rat(t, "1.05")}} })},
		{name: "line too precise", value: base(func(p *payment) {
			p.Lines = []line{{Amount: rat(t, "1.05")}, {Amount: rat(t, "1.005")}}
		}), wantPath: "lines[1].amount"},
		{name: "line over precision 9", value: base(func(p *payment) { p.Lines = []line{{Amount: rat(t, "12345678.9")}} }), wantPath: "lines[0].amount"},
		{name: "struct by value", value: *base(func(p *payment) { p.Amount = rat(t, "0.12345") }), wantPath: "amount"},
		// A record as a generic map holds its decimals behind interfaces, which the check
		// does not follow: refused, never encoded unchecked.
		{name: "generic map", value: map[string]any{"id": "x", "amount": rat(t, "0.1234"), "lines": []any{}, "paid_on": time.Unix(0, 0).UTC()}, wantPath: "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDecimals(schema, tt.value)
			if tt.wantPath == "unsupported" {
				if !errors.Is(err, ErrUnsupportedType) {
					t.Fatalf("CheckDecimals = %v, want ErrUnsupportedType", err)
				}
				if _, err := New(nil).Encode(1, schema, tt.value); !errors.Is(err, ErrUnsupportedType) {
					t.Fatalf("Encode = %v, want ErrUnsupportedType", err)
				}
				return
			}
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("CheckDecimals = %v, want nil", err)
				}
				// The encoder must accept what the check accepts.
				if _, err := New(nil).Encode(1, schema, tt.value); err != nil {
					t.Fatalf("Encode after a passing check: %v", err)
				}
				return
			}
			var de *DecimalError
			if !errors.As(err, &de) || !errors.Is(err, ErrInexactDecimal) {
				t.Fatalf("CheckDecimals = %v, want *DecimalError", err)
			}
			if de.Path != tt.wantPath {
				t.Fatalf("path = %q, want %q", de.Path, tt.wantPath)
			}
		})
	}
}

// The check and hamba agree on what round-trips: every accepted amount
// decodes to exactly the same rational.
func TestCheckedAmountsRoundTripExactly(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	c := New(nil)
	for _, s := range []string{"0", "0.0001", "-0.0001", "12.5", "-12.5", "99999999.9999", "-99999999.9999", "0.1234", "128", "-128", "255.99", "-32768"} {
		p := &payment{ID: "x", Amount: rat(t, s), PaidOn: time.Unix(0, 0).UTC()}
		data, err := c.Encode(1, schema, p)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		var out payment
		if err := c.api.Unmarshal(schema, data[HeaderSize:], &out); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if out.Amount.Cmp(p.Amount) != 0 {
			t.Fatalf("%s decoded as %s", s, out.Amount.FloatString(4))
		}
	}
}

func TestCheckDecimalsNoDecimalSchema(t *testing.T) {
	schema := mustSchema(t, "plain.avsc")
	v := struct {
		ID    string `avro:"id"`
		Count int64  `avro:"count"`
	}{ID: "a", Count: 3}
	if err := CheckDecimals(schema, &v); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = CheckDecimals(schema, &v) }); allocs != 0 {
		t.Fatalf("check of a schema without decimals allocates %v times", allocs)
	}
}

func TestCheckDecimalsFastPathAllocs(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	p := samplePayment(t)
	if err := CheckDecimals(schema, p); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = CheckDecimals(schema, p) }); allocs != 0 {
		t.Fatalf("check of ordinary amounts allocates %v times", allocs)
	}
}

// hamba/avro v2.31 decodes a big.Rat held by value, and a *big.Rat in a
// nullable union, to a wrong amount without an error. The codec refuses such
// Go types in both directions.
func TestUnsupportedDecimalTypes(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	type byValue struct {
		ID     string    `avro:"id"`
		Amount big.Rat   `avro:"amount"`
		Lines  []line    `avro:"lines"`
		PaidOn time.Time `avro:"paid_on"`
	}
	type nullablePtr struct {
		ID     string    `avro:"id"`
		Amount *big.Rat  `avro:"amount"`
		Bonus  *big.Rat  `avro:"bonus"`
		Lines  []line    `avro:"lines"`
		PaidOn time.Time `avro:"paid_on"`
	}
	good, err := New(nil).Encode(1, schema, samplePayment(t))
	if err != nil {
		t.Fatal(err)
	}
	c := New(staticSource{1: schema})
	tests := []struct {
		name  string
		value any
		into  any
	}{
		{name: "big.Rat by value", value: &byValue{ID: "x", Amount: *big.NewRat(1, 2)}, into: &byValue{}},
		{name: "*big.Rat in a union", value: &nullablePtr{ID: "x", Amount: big.NewRat(1, 2)}, into: &nullablePtr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Encode(1, schema, tt.value); !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("Encode = %v, want ErrUnsupportedType", err)
			}
			if err := c.Decode(t.Context(), good, schema, tt.into); !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("Decode = %v, want ErrUnsupportedType", err)
			}
		})
	}
}

type staticSource map[int]avro.Schema

func (s staticSource) SchemaByID(_ context.Context, id int) (avro.Schema, error) {
	if sch, ok := s[id]; ok {
		return sch, nil
	}
	return nil, ErrUnknownSchemaID
}

// Callers that parse the schema again for every call must not grow the plan
// cache: plans are keyed by the schema's fingerprint, not its address.
func TestPlanCacheKeyedBySchemaIdentity(t *testing.T) {
	count := func() int {
		n := 0
		plans.Range(func(k, _ any) bool {
			if k.(planKey).typ == reflect.TypeFor[*payment]() && k.(planKey).schema == mustSchema(t, "payment_v1.avsc").CacheFingerprint() {
				n++
			}
			return true
		})
		return n
	}
	for range 5 {
		schema := mustSchema(t, "payment_v1.avsc")
		if err := CheckDecimals(schema, samplePayment(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d plans for one schema and type, want 1", n)
	}
}

type item struct {
	Amount *big.Rat  `avro:"amount"`
	Hours  **big.Rat `avro:"hours"`
}

type envelope struct {
	Op     string              `avro:"op"`
	Before *item               `avro:"before"`
	After  *item               `avro:"after"`
	Extras map[string]*big.Rat `avro:"extras"`
}

// The change-event shape: decimals inside nullable records, nullable
// decimals, and a map of decimals.
func TestCheckDecimalsEnvelope(t *testing.T) {
	schema := mustSchema(t, "envelope.avsc")
	ok := func() *envelope {
		return &envelope{
			Op:     "u",
			Before: &item{Amount: rat(t, "4000.5")},
			After:  &item{Amount: rat(t, "4100.25"), Hours: ptr(rat(t, "38.5"))},
			Extras: map[string]*big.Rat{"bonus": rat(t, "12.34")},
		}
	}
	tests := []struct {
		name     string
		mut      func(e *envelope)
		wantPath string
	}{
		{name: "ok", mut: func(*envelope) {}},
		{name: "create (no before)", mut: func(e *envelope) { e.Before = nil }},
		{name: "delete (no after)", mut: func(e *envelope) { e.After = nil }},
		{name: "after amount too precise", mut: func(e *envelope) { e.After.Amount = rat(t, "4100.00001") }, wantPath: "after.amount"},
		{name: "before amount too precise", mut: func(e *envelope) { e.Before.Amount = rat(t, "-0.00005") }, wantPath: "before.amount"},
		{name: "hours too precise", mut: func(e *envelope) { e.After.Hours = ptr(rat(t, "38.125")) }, wantPath: "after.hours"},
		{name: "hours over precision", mut: func(e *envelope) { e.After.Hours = ptr(rat(t, "1000")) }, wantPath: "after.hours"},
		{name: "map value too precise", mut: func(e *envelope) { e.Extras["bonus"] = rat(t, "0.001") }, wantPath: "extras[bonus]"},
		{name: "nil amount in a present record", mut: func(e *envelope) { e.After.Amount = nil }, wantPath: "after.amount"},
	}
	c := New(staticSource{3: schema})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok()
			tt.mut(e)
			data, err := c.Encode(3, schema, e)
			if tt.wantPath != "" {
				var de *DecimalError
				if !errors.As(err, &de) || de.Path != tt.wantPath {
					t.Fatalf("Encode = %v, want a decimal error at %s", err, tt.wantPath)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out envelope
			if err := c.Decode(t.Context(), data, schema, &out); err != nil {
				t.Fatal(err)
			}
			if (out.Before == nil) != (e.Before == nil) || (out.After == nil) != (e.After == nil) {
				t.Fatalf("decoded %+v, want %+v", out, e)
			}
			if e.After != nil && out.After.Amount.Cmp(e.After.Amount) != 0 {
				t.Fatalf("after.amount = %v, want %v", out.After.Amount, e.After.Amount)
			}
			if e.After != nil && e.After.Hours != nil && (out.After.Hours == nil || (*out.After.Hours).Cmp(*e.After.Hours) != 0) {
				t.Fatalf("after.hours = %v, want %v", out.After.Hours, *e.After.Hours)
			}
			if out.Extras["bonus"].Cmp(e.Extras["bonus"]) != 0 {
				t.Fatalf("extras = %v", out.Extras)
			}
		})
	}
}
