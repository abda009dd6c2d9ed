package change_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// assertRoundTrip checks that r encodes (appended after what dst held), that AppendRecordHash
// and ContentHash agree with it, and that it decodes back to a record of the same content.
func assertRoundTrip(t testing.TB, r change.Record) {
	t.Helper()
	got, err := change.AppendRecord([]byte("prefix"), r)
	if err != nil {
		t.Fatalf("%s %q: %v", r.Entity(), r.RecordID(), err)
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("%s %q: AppendRecord lost what dst held", r.Entity(), r.RecordID())
	}
	want := got[len("prefix"):]
	again, h, err := change.AppendRecordHash(nil, r)
	if err != nil || !bytes.Equal(again, want) {
		t.Fatalf("%s %q: AppendRecordHash encoding differs (%v)", r.Entity(), r.RecordID(), err)
	}
	if ch, _ := change.ContentHash(r); ch != h {
		t.Fatalf("%s %q: AppendRecordHash hash %s, ContentHash %s", r.Entity(), r.RecordID(), h, ch)
	}
	back, err := change.UnmarshalRecord(r.Entity(), got[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	if bh, _ := change.ContentHash(back); bh != h {
		t.Fatalf("%s %q: hash changed through a decode: fields %q", r.Entity(), r.RecordID(), change.ChangedFields(r, back))
	}
}

// TestRecordsRoundTrip encodes the simulator's whole company and records that reach every
// corner of the schemas (absent values, empty lists, lists across a block boundary, negative
// and 19-digit decimals, instants before 1970 and with sub-millisecond parts) and decodes
// them back: the content hash survives.
func TestRecordsRoundTrip(t *testing.T) {
	truth := personiotest.NewTruth(t, personiotest.Options{Persons: 300, Seed: 5})
	n := 0
	for _, p := range truth.Persons {
		r, err := change.NewPerson(p, truth.Employments[p.ID])
		if err != nil {
			t.Fatal(err)
		}
		assertRoundTrip(t, r)
		n++
	}
	for _, c := range truth.Compensations {
		r, err := change.NewCompensation(c)
		if err != nil {
			t.Fatal(err)
		}
		assertRoundTrip(t, r)
		n++
	}
	if n < 300 {
		t.Fatalf("only %d records", n)
	}

	many := fullPerson()
	many.CustomAttributes = nil
	for i := range 257 {
		many.CustomAttributes = append(many.CustomAttributes, change.CustomAttribute{ID: "a" + strconv.Itoa(i), ValueJSON: ptr(strconv.Itoa(i))})
	}
	for i := range 101 {
		many.Employments[0].OrgUnits = append(many.Employments[0].OrgUnits, change.OrgUnit{ID: "u" + strconv.Itoa(i)})
	}
	old := ptr(time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC))
	odd := fullPerson()
	odd.CreatedAt, odd.UpdatedAt = old, old
	odd.Employments[0].StartDate = old
	odd.Employments[0].Termination.TerminatedAt = ptr(time.Date(2024, 2, 29, 12, 0, 0, 1_500_000, time.FixedZone("x", 3600)))
	odd.Employments[0].WeeklyWorkingHours = change.Dec(rat("-99999.9999"))
	odd.Employments[0].CostCenters = []change.CostCenter{{ID: "c", Weight: change.Dec(rat("0"))}, {ID: "d"}}
	odd.Employments = append(odd.Employments, change.Employment{ID: "bare"})
	big19 := fullCompensation()
	big19.Amount = rat("999999999999999.9999")
	neg := fullCompensation()
	neg.Amount = rat("-0.0128")
	neg.EffectiveFrom = date("1900-02-28")
	for _, r := range []change.Record{
		fullPerson(), &change.Person{ID: "x"}, &change.Person{ID: "", CustomAttributes: []change.CustomAttribute{}},
		many, odd, fullCompensation(), &change.Compensation{ID: "c", Amount: rat("0")}, big19, neg,
	} {
		assertRoundTrip(t, r)
	}
}

// FuzzRecordRoundTrip builds random records and round-trips them (assertRoundTrip).
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("1", "ada@example.com", int64(1_700_000_000_123_456_789), int64(12345), uint8(3), uint8(2), true)
	f.Add("", "", int64(-1), int64(-1), uint8(0), uint8(0), false)
	f.Add("ß", "\x00\xff", int64(-62_135_596_800_000_000_000/1000), int64(-9_999_999_999), uint8(130), uint8(101), true)
	f.Fuzz(func(t *testing.T, id, text string, nanos, units int64, nAttrs, nUnits uint8, term bool) {
		at := time.Unix(0, nanos).UTC()
		hours := big.NewRat(units%1_000_000_000, 10_000)
		p := &change.Person{ID: id, Email: &text, CreatedAt: &at, UpdatedAt: &at}
		for i := range int(nAttrs) {
			a := change.CustomAttribute{ID: id + strconv.Itoa(i)}
			if i%2 == 0 {
				a.ValueJSON, a.Label = &text, &id
			}
			p.CustomAttributes = append(p.CustomAttributes, a)
		}
		e := change.Employment{ID: text, StartDate: &at, WeeklyWorkingHours: change.Dec(hours), CreatedAt: &at, UpdatedAt: &at}
		for i := range int(nUnits) {
			e.OrgUnits = append(e.OrgUnits, change.OrgUnit{ID: strconv.Itoa(i), Type: &text})
			e.CostCenters = append(e.CostCenters, change.CostCenter{ID: strconv.Itoa(i), Weight: change.Dec(hours)})
		}
		if term {
			e.Termination = &change.Termination{TerminatedAt: &at, LastWorkingDay: &at, Reason: &id}
		}
		p.Employments = []change.Employment{e, {ID: id}}
		assertRoundTrip(t, p)
		c := &change.Compensation{ID: id, PersonID: text, Amount: big.NewRat(units, 10_000), Currency: text,
			EffectiveFrom: at, WeeklyWorkingHours: change.Dec(hours)}
		assertRoundTrip(t, c)
	})
}

// TestContentHashLeavesOutUpdatedAt checks the hash against its definition: the sha256 of
// the encoding without updated_at (and without the byte sizes of array blocks, which depend
// on it), so any updated_at, of any encoded length, leaves it alone.
func TestContentHashLeavesOutUpdatedAt(t *testing.T) {
	c := fullCompensation()
	b, err := change.MarshalRecord(c)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := change.ContentHash(c); h != change.Hash(sha256.Sum256(b)) {
		t.Errorf("compensation hash %s, want the sha256 of its encoding", h)
	}
	p := fullPerson()
	p.UpdatedAt, p.CustomAttributes, p.Employments = nil, nil, nil
	b, err = change.MarshalRecord(p) // …, updated_at (null), 0 (attributes), 0 (employments)
	if err != nil {
		t.Fatal(err)
	}
	if b[len(b)-3] != 0 {
		t.Fatal("unexpected layout around updated_at")
	}
	without := append(append([]byte(nil), b[:len(b)-3]...), b[len(b)-2:]...)
	if h, _ := change.ContentHash(p); h != change.Hash(sha256.Sum256(without)) {
		t.Errorf("person hash %s, want the sha256 of its encoding without updated_at", h)
	}
	p = fullPerson()
	base, _ := change.ContentHash(p)
	for _, ms := range []int64{0, 1, 1 << 40, -1} {
		at := ptr(time.UnixMilli(ms).UTC())
		if ms == 0 {
			at = nil
		}
		p.UpdatedAt, p.Employments[0].UpdatedAt = at, at
		if h, _ := change.ContentHash(p); h != base {
			t.Errorf("updated_at %v changed the hash", at)
		}
	}
}

// TestRecordEncodingRefusesInexactDecimals: the record encoding keeps the codec's guard
// and names the field, never the amount.
func TestRecordEncodingRefusesInexactDecimals(t *testing.T) {
	p := fullPerson()
	p.Employments[0].CostCenters[1].Weight = change.Dec(rat("0.12345"))
	_, err := change.AppendRecord(nil, p)
	var de *codec.DecimalError
	if !errors.As(err, &de) || !errors.Is(err, codec.ErrInexactDecimal) || de.Path != "employments[0].cost_centers[1].weight" {
		t.Fatalf("err = %v, want a decimal error at employments[0].cost_centers[1].weight", err)
	}
	if strings.Contains(err.Error(), "12345") {
		t.Errorf("error %q carries the amount", err)
	}
	c := fullCompensation()
	c.Amount = rat("10000000000000000")
	if _, err := change.AppendRecord(nil, c); !errors.As(err, &de) || de.Path != "amount" || de.Reason == "" {
		t.Fatalf("err = %v, want a precision error at amount", err)
	}
	if _, _, err := change.AppendRecordHash(nil, c); err == nil {
		t.Fatal("AppendRecordHash accepted an amount beyond the precision")
	}
}
