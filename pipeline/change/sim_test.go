package change_test

import (
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// TestSimulatorDataSurvivesAvro puts the simulator's whole company into normal form, sends
// every record through its envelope schema and back, and checks that the content hash and
// the changed fields see no difference: a state rebuilt from the topic must equal a fresh
// listing.
func TestSimulatorDataSurvivesAvro(t *testing.T) {
	for _, omitIDs := range []bool{false, true} {
		sim, err := personiotest.New(personiotest.Options{Persons: 200, Seed: 7, OmitCompensationIDs: omitIDs})
		if err != nil {
			t.Fatal(err)
		}
		truth := sim.Truth()
		var recs []change.Record
		for _, p := range truth.Persons {
			r, err := change.NewPerson(p, truth.Employments[p.ID])
			if err != nil {
				t.Fatalf("person: %v", err)
			}
			recs = append(recs, r)
		}
		ids := map[string]bool{}
		for _, c := range truth.Compensations {
			r, err := change.NewCompensation(c)
			if err != nil {
				t.Fatalf("compensation: %v", err)
			}
			if ids[r.ID] {
				t.Errorf("compensation id %q appears twice (ids omitted: %v)", r.ID, omitIDs)
			}
			ids[r.ID] = true
			recs = append(recs, r)
		}
		if len(truth.Compensations) == 0 || len(truth.Persons) == 0 {
			t.Fatal("simulator produced no data")
		}
		for _, r := range recs {
			s, err := schemas.Parse(string(r.Entity()))
			if err != nil {
				t.Fatal(err)
			}
			ev := change.Event{Entity: r.Entity(), Op: change.Create, After: r, Version: 1, EventID: "x",
				TS: time.UnixMilli(1).UTC(), Source: change.Source{Tenant: "acme", System: change.System, SyncKind: "full"}}
			env, err := ev.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			b, err := avro.Marshal(s, env)
			if err != nil {
				t.Fatal(err)
			}
			var back any = new(change.PersonChange)
			if r.Entity() == change.Compensations {
				back = new(change.CompensationChange)
			}
			if err := avro.Unmarshal(s, b, back); err != nil {
				t.Fatal(err)
			}
			got, err := change.FromEnvelope(back)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := change.ContentHash(r)
			if got.Hash != want {
				t.Errorf("%s %s: content hash changed through Avro; changed fields %q", r.Entity(), r.RecordID(), change.ChangedFields(r, got.After))
			}
		}
	}
}
