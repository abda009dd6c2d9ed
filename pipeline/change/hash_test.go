package change

import (
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

var (
	hashTimeType = reflect.TypeFor[time.Time]()
	hashRatType  = reflect.TypeFor[big.Rat]()
)

// fill sets every field reachable from v to a non-zero value; lists get one element.
func fill(v reflect.Value, seed int64) {
	switch {
	case v.Type() == hashTimeType:
		v.Set(reflect.ValueOf(time.Unix(seed*86400, 0).UTC()))
	case v.Type() == hashRatType:
		v.Set(reflect.ValueOf(*big.NewRat(seed, 4)))
	case v.Kind() == reflect.String:
		v.SetString("s" + string(rune('a'+seed%26)))
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), seed)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), seed+int64(i))
		}
	}
}

// leaves calls fn for every settable leaf (string, time, decimal, pointer, list) under v with
// its Avro path and whether it is volatile.
func leaves(v reflect.Value, path string, volatile bool, fn func(v reflect.Value, path string, volatile bool)) {
	switch {
	case v.Kind() == reflect.Struct && v.Type() != hashTimeType && v.Type() != hashRatType:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			vol := volatile || hasOpt(f.Tag.Get("diff"), "volatile")
			leaves(v.Field(i), path+"."+f.Tag.Get("avro"), vol, fn)
		}
	case v.Kind() == reflect.Slice:
		fn(v, path, volatile) // the list itself: emptied
		for i := range v.Len() {
			leaves(v.Index(i), path, volatile, fn)
		}
	case v.Kind() == reflect.Pointer:
		fn(v, path, volatile) // set to nil
		if !v.IsNil() {
			leaves(v.Elem(), path, volatile, fn)
		}
	default:
		fn(v, path, volatile)
	}
}

// TestContentHashCoversEveryField changes every field of a fully filled record, one at a time,
// and checks that the hash changes, except for updated_at. A field added to the records but
// not to the hash fails here.
func TestContentHashCoversEveryField(t *testing.T) {
	for _, rec := range []Record{new(Person), new(Compensation), new(EmploymentRecord)} {
		fill(reflect.ValueOf(rec).Elem(), 1)
		base, err := ContentHash(rec)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		leaves(reflect.ValueOf(rec).Elem(), string(rec.Entity()), false, func(v reflect.Value, path string, volatile bool) {
			old := reflect.New(v.Type()).Elem()
			old.Set(v)
			defer v.Set(old)
			var changed reflect.Value
			switch {
			case v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice:
				if v.IsNil() {
					return
				}
				changed = reflect.Zero(v.Type())
			default:
				changed = reflect.New(v.Type()).Elem()
				fill(changed, 99)
			}
			if v.Type() == reflect.TypeFor[*big.Rat]() && changed.IsNil() {
				// A required amount cannot be nil (ContentHash refuses it), and an optional
				// decimal is null by its outer pointer (Dec), which is tried.
				return
			}
			v.Set(changed)
			n++
			h, err := ContentHash(rec)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if volatile && h != base {
				t.Errorf("%s is volatile but changed the hash", path)
			}
			if !volatile && h == base {
				t.Errorf("%s changed but the hash did not", path)
			}
		})
		if n < 20 {
			t.Errorf("%s: only %d fields tried", rec.Entity(), n)
		}
	}
}

// TestContentHashDecimalByValue: 1.5 and 1.50 are the same decimal, as in Avro.
func TestContentHashDecimalByValue(t *testing.T) {
	a, _ := ParseDecimal("1.5", AmountPrecision, AmountScale)
	b, _ := ParseDecimal("1.5000", AmountPrecision, AmountScale)
	c, _ := ParseDecimal("-1.5", AmountPrecision, AmountScale)
	h := func(r *big.Rat) Hash {
		x, err := ContentHash(&Compensation{ID: "1", Amount: r})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if h(a) != h(b) {
		t.Error("1.5 and 1.5000 hash differently")
	}
	if h(a) == h(c) {
		t.Error("1.5 and -1.5 hash the same")
	}
}

// TestIDsOnlyEmploymentsHashStable: a person listed without employment details keeps the same
// hash through the topic (Avro) and from one listing to the next.
func TestIDsOnlyEmploymentsHashStable(t *testing.T) {
	p := personio.Person{ID: "1", FirstName: "Ada", CreatedAt: "2020-01-01T00:00:00Z",
		Employments: []personio.Ref{{ID: "e2"}, {ID: "e1"}, {ID: " "}}}
	a, err := NewPerson(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Employments) != 2 || a.Employments[0].ID != "e1" || a.Employments[0].Status != nil {
		t.Fatalf("employments = %+v, want e1 and e2 with ids only", a.Employments)
	}
	b, err := MarshalRecord(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalRecord(Persons, b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewPerson(p, nil)
	ha, _ := ContentHash(a)
	hb, _ := ContentHash(back)
	hc, _ := ContentHash(again)
	if ha != hb || ha != hc {
		t.Errorf("hash changed: fresh %s, through Avro %s, listed again %s", ha, hb, hc)
	}
	withDetails, _ := NewPerson(p, []personio.Employment{{ID: "e1", Status: "ACTIVE"}, {ID: "e2"}})
	if hd, _ := ContentHash(withDetails); hd == ha {
		t.Error("details and ids only hash the same")
	}
}
