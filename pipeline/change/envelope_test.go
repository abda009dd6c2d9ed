package change_test

import (
	"bytes"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// FuzzEnvelopeSplice builds random events around random records and checks that
// AppendEnvelope with the records' own encodings gives exactly hamba's encoding of the
// envelope struct with the entity schema.
func FuzzEnvelopeSplice(f *testing.F) {
	f.Add(false, uint8(0), "e1", "tenant", "sync", int64(0), int64(0), true, int64(1), "1", "a@example.com", int64(12345), uint8(0), "email", int64(1))
	f.Add(true, uint8(1), "", "", "", int64(-1_000_000_001), int64(1<<62), false, int64(-5), "", "", int64(-1), uint8(101), "", int64(-1))
	f.Add(true, uint8(2), "ü", "a:b", "x", int64(1_700_000_000_123_456_789), int64(7), true, int64(999), "c-9", "ß", int64(1<<40), uint8(250), "employments.status", int64(1<<40))
	f.Add(false, uint8(3), "r", "t", "s", int64(5), int64(5), false, int64(0), "p", "", int64(0), uint8(100), "x", int64(0))
	persons, err := schemas.Parse(string(change.Persons))
	if err != nil {
		f.Fatal(err)
	}
	comps, err := schemas.Parse(string(change.Compensations))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, comp bool, shape uint8, eventID, tenant, syncID string, tsNanos, extractedNanos int64,
		hasUpdated bool, updatedMillis int64, id, text string, cents int64, nFields uint8, field string, version int64) {
		var before, after change.Record
		mk := func(suffix string) change.Record {
			if comp {
				c := &change.Compensation{ID: id + suffix, PersonID: text, Amount: big.NewRat(cents, 100), Currency: "EUR",
					EffectiveFrom: time.UnixMilli(updatedMillis / 86_400_000 * 86_400_000).UTC()}
				if text != "" {
					c.TypeName = &text
					w := big.NewRat(cents%10_000, 100)
					c.WeeklyWorkingHours = &w
				}
				return c
			}
			p := &change.Person{ID: id + suffix}
			if text != "" {
				p.Email = &text
				u := time.UnixMilli(updatedMillis).UTC()
				p.UpdatedAt = &u
				p.CustomAttributes = []change.CustomAttribute{{ID: text, ValueJSON: &text}}
				p.Employments = []change.Employment{{ID: text, OrgUnits: []change.OrgUnit{{ID: suffix}}}}
			}
			return p
		}
		switch shape % 4 {
		case 0:
			after = mk("")
		case 1:
			before, after = mk("b"), mk("")
		case 2:
			before = mk("")
		case 3:
			after = mk("r")
		}
		entity := change.Persons
		schema := persons
		if comp {
			entity, schema = change.Compensations, comps
		}
		ev := change.Event{Entity: entity, Op: change.Op(eventID), EventID: eventID, TS: time.Unix(0, tsNanos),
			Before: before, After: after, Version: version,
			Source: change.Source{Tenant: tenant, System: change.System, SyncID: syncID, SyncKind: text,
				ExtractedAt: time.Unix(0, extractedNanos)}}
		if hasUpdated {
			u := time.UnixMilli(updatedMillis)
			ev.Source.EntityUpdatedAt = &u
		}
		for i := range int(nFields) {
			ev.ChangedFields = append(ev.ChangedFields, field+strconv.Itoa(i))
		}
		enc := func(r change.Record) []byte {
			if r == nil {
				return nil
			}
			b, err := change.MarshalRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		env, err := ev.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		want, err := avro.Marshal(schema, env)
		if err != nil {
			t.Fatal(err)
		}
		got := change.AppendEnvelope([]byte{9}, ev, enc(before), enc(after))
		if got[0] != 9 || !bytes.Equal(got[1:], want) {
			t.Fatalf("spliced envelope differs\n got %x\nwant %x", got[1:], want)
		}
	})
}
