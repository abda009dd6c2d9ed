package publish

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

// TestSpliceMatchesEnvelopeEncoding diffs the simulator's whole company (with and without
// compensation ids) through creates, churn (updates with before images, deletes, new
// records) and a re-snapshot, publishes every event, and checks that each value the
// Publisher spliced from record bytes is byte for byte hamba's encoding of the envelope
// struct with the real schema, and that the state entries decode to the after records.
func TestSpliceMatchesEnvelopeEncoding(t *testing.T) {
	for _, omitIDs := range []bool{false, true} {
		sim, err := personiotest.New(personiotest.Options{Persons: 120, Seed: 11, OmitCompensationIDs: omitIDs})
		if err != nil {
			t.Fatal(err)
		}
		d, err := diff.New(diff.WithoutDeleteGuard())
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		p, c := newPublisher(t, rec, 50)
		store := state.NewMemory()
		ops := map[change.Op]int{}
		withBefore := 0
		steps := []struct {
			kind  change.SyncKind
			churn personiotest.Churn
		}{
			{kind: change.Full},
			{kind: change.Full, churn: personiotest.Churn{Hires: 5, Terminations: 5, Deletions: 4, Renames: 6,
				EmailChanges: 6, AttributeChanges: 6, SalaryChanges: 8, Bonuses: 5}},
			{kind: change.Resnapshot, churn: personiotest.Churn{Renames: 3, SalaryChanges: 3}},
		}
		for i, step := range steps {
			sim.Churn(step.churn)
			truth := sim.Truth()
			var events []change.Event
			for _, e := range []change.Entity{change.Persons, change.Compensations} {
				run, err := d.Begin(store, e, change.Source{Tenant: tenant, SyncID: "s", SyncKind: string(step.kind),
					ExtractedAt: ts.Add(time.Duration(i) * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if e == change.Persons {
					for _, pp := range truth.Persons {
						r, err := change.NewPerson(pp, truth.Employments[pp.ID])
						if err != nil {
							t.Fatal(err)
						}
						if err := run.Add(r); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					for _, cc := range truth.Compensations {
						r, err := change.NewCompensation(cc)
						if err != nil {
							t.Fatal(err)
						}
						if err := run.Add(r); err != nil {
							t.Fatal(err)
						}
					}
				}
				res, err := run.Finish(diff.Scope{Complete: true})
				if err != nil {
					t.Fatalf("step %d %s: %v", i, e, err)
				}
				events = append(events, res.Events...)
			}
			rec.calls = nil
			if _, err := p.Publish(t.Context(), store, events); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			msgs := rec.all()
			j := 0
			for _, ev := range events {
				ops[ev.Op]++
				if ev.BeforeData != nil {
					withBefore++
				}
				topic := p.topics[ev.Entity]
				env, err := ev.Envelope()
				if err != nil {
					t.Fatal(err)
				}
				want, err := c.Encode(topic.id, topic.schema, env)
				if err != nil {
					t.Fatal(err)
				}
				if j >= len(msgs) {
					t.Fatalf("step %d: %d messages for %d events", i, len(msgs), len(events))
				}
				if got := msgs[j].Value; !bytes.Equal(got, want) {
					t.Errorf("step %d %s: spliced value differs from the envelope encoding\n got %x\nwant %x", i, ev, got, want)
				}
				j++
				if ev.Op == change.Delete {
					j++ // tombstone
					continue
				}
				e, ok := store.Get(ev.Entity, ev.Key)
				if !ok {
					t.Fatalf("step %d %s: not in the state", i, ev)
				}
				back, err := e.Record(ev.Entity)
				if err != nil {
					t.Fatal(err)
				}
				if h, _ := change.ContentHash(back); h != ev.Hash || e.Hash != ev.Hash {
					t.Errorf("step %d %s: state entry does not hold the after record", i, ev)
				}
			}
			if j != len(msgs) {
				t.Errorf("step %d: %d messages, want %d", i, len(msgs), j)
			}
		}
		for _, op := range []change.Op{change.Create, change.Update, change.Delete, change.Read} {
			if ops[op] == 0 {
				t.Errorf("omitIDs %v: no %q event was checked (%v)", omitIDs, op, ops)
			}
		}
		if withBefore == 0 {
			t.Errorf("omitIDs %v: no event carried a before image from the state", omitIDs)
		}
	}
}

// TestSpliceRejectsInexactDecimal checks that the exact-decimal guard still holds when the
// envelope is spliced: an update whose after amount has more places than the schema allows
// is refused before anything is sent, also when its before image comes from the state.
func TestSpliceRejectsInexactDecimal(t *testing.T) {
	rec := &recorder{}
	p, _ := newPublisher(t, rec, 0)
	before := compensation("c1", "10.5")
	data, err := change.MarshalRecord(before)
	if err != nil {
		t.Fatal(err)
	}
	for _, amount := range []string{"10.12345", "1/3"} {
		ev := event(change.Update, 2, before, compensation("c1", amount))
		ev.BeforeData = data
		store := state.NewMemory()
		_, err := p.Publish(t.Context(), store, []change.Event{ev})
		if !errors.Is(err, codec.ErrInexactDecimal) {
			t.Errorf("amount %s: err = %v, want ErrInexactDecimal", amount, err)
		}
		if len(rec.calls) != 0 || store.Len(change.Compensations) != 0 {
			t.Errorf("amount %s: sent %d batches, state %d: want nothing", amount, len(rec.calls), store.Len(change.Compensations))
		}
	}
}
