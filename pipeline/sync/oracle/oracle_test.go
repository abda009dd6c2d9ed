package oracle_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
	"github.com/personio-cdc/personio-cdc/schemas"
)

const tenant = "acme"

func newSim(t *testing.T) *personiotest.Server {
	t.Helper()
	sim, err := personiotest.New(personiotest.Options{Persons: 80, Seed: 3, NoRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// currentEmployment returns the id of a person's last employment in truth.
func currentEmployment(t *testing.T, tr personiotest.Truth, personID string) string {
	t.Helper()
	emps := tr.Employments[personID]
	if len(emps) == 0 {
		t.Fatalf("person %s has no employment", personID)
	}
	return emps[len(emps)-1].ID
}

func TestEmployments(t *testing.T) {
	sim := newSim(t)
	tr0 := sim.Truth()
	st0, err := oracle.Employments(tr0, tenant)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range tr0.Persons {
		for _, e := range tr0.Employments[p.ID] {
			n++
			rec, err := change.NewEmployment(p.ID, e)
			if err != nil {
				t.Fatal(err)
			}
			h, err := change.ContentHash(rec)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := st0[tenant+":"+e.ID]; !ok || got != h {
				t.Errorf("employment %s: hash %s (present %v), want %s", e.ID, got, ok, h)
			}
		}
	}
	if len(st0) != n || n <= len(tr0.Persons) {
		t.Fatalf("%d keys for %d employments of %d persons", len(st0), n, len(tr0.Persons))
	}

	// Employment-only changes update exactly their employment; a deleted person's employments
	// are deleted; a hire's is created. Persons' updated_at stays, so only this state sees them.
	res := sim.Churn(personiotest.Churn{EmploymentChanges: 3, CostCenterChanges: 2, Deletions: 1, Hires: 1})
	tr1 := sim.Truth()
	st1, err := oracle.Employments(tr1, tenant)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]change.Op{}
	for _, id := range append(slices.Clone(res.EmploymentChanges), res.CostCenterChanges...) {
		want[tenant+":"+currentEmployment(t, tr1, id)] = change.Update
	}
	for _, e := range tr0.Employments[res.Deletions[0]] {
		want[tenant+":"+e.ID] = change.Delete
	}
	want[tenant+":"+currentEmployment(t, tr1, res.Hires[0])] = change.Create
	got := oracle.Changes(oracle.State{change.Employments: st0}, oracle.State{change.Employments: st1})
	if !maps.Equal(got[change.Employments], want) {
		t.Errorf("employment changes %v, want %v", got[change.Employments], want)
	}
	if len(got[change.Persons])+len(got[change.Compensations]) != 0 {
		t.Errorf("changes of entities the states do not hold: %v", got)
	}
}

// sourceOf is a codec.SchemaSource with one schema under id 1.
type sourceOf struct{ schema avro.Schema }

func (s sourceOf) SchemaByID(_ context.Context, id int) (avro.Schema, error) {
	if id != 1 {
		return nil, errors.New("no such id")
	}
	return s.schema, nil
}

// records is a Reader over fixed records.
type records []kafka.Record

func (rs records) ReadToEnd(_ context.Context, _ string, fn func(kafka.Record) error) error {
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// TestReplayEmploymentsTopic replays an employments topic as a consumer reads it: creates for
// every employment of the truth, then a delete and its tombstone; the state left is the truth's
// without the deleted key.
func TestReplayEmploymentsTopic(t *testing.T) {
	tr := newSim(t).Truth()
	want, err := oracle.Employments(tr, tenant)
	if err != nil {
		t.Fatal(err)
	}
	env, err := schemas.Parse(schemas.Employments)
	if err != nil {
		t.Fatal(err)
	}
	c := codec.New(sourceOf{env})
	ts := time.Date(2026, 3, 18, 9, 30, 0, 0, time.UTC)
	var topic records
	publish := func(ev change.Event) {
		ev.Entity, ev.TS = change.Employments, ts
		ev.Source = change.Source{Tenant: tenant, System: change.System, SyncID: "s", SyncKind: string(change.Full), ExtractedAt: ts}
		ev.Key = change.Key(tenant, ev.ID)
		ev.EventID = change.EventID(ev.Key, ev.Entity, ev.Version, ev.Op, ev.Hash)
		v, err := ev.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Encode(1, env, v)
		if err != nil {
			t.Fatal(err)
		}
		topic = append(topic, kafka.Record{Offset: int64(len(topic)), Key: []byte(ev.Key), Value: b})
	}
	var last *change.EmploymentRecord
	for _, p := range tr.Persons {
		for _, e := range tr.Employments[p.ID] {
			rec, err := change.NewEmployment(p.ID, e)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := change.ContentHash(rec)
			publish(change.Event{ID: rec.ID, Op: change.Create, After: rec, Version: 1, Hash: h})
			last = rec
		}
	}
	publish(change.Event{ID: last.ID, Op: change.Delete, Before: last, Version: 2})
	topic = append(topic, kafka.Record{Offset: int64(len(topic)), Key: []byte(change.Key(tenant, last.ID))})
	delete(want, change.Key(tenant, last.ID))

	rp, err := oracle.ReplayTopic(t.Context(), topic, c, "personio.employments", change.Employments)
	if err != nil {
		t.Fatal(err)
	}
	if d := oracle.Diff(rp.State[change.Employments], want); d != "" {
		t.Errorf("replayed state differs from the truth: %s", d)
	}
	if v := rp.Versions[change.Key(tenant, last.ID)]; !slices.Equal(v, []int64{1, 2}) {
		t.Errorf("versions of the deleted key %v, want [1 2]", v)
	}
}
