package erasure

import (
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

func TestRollsWriteEachErasureTombstoneOnceMoreAfterTheSegmentRoll(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	topic := func(e change.Entity) string { return "p." + string(e) }
	notLive := func(change.Entity, string) bool { return false }
	erased := func(key string, at time.Time, how string) kafka.Record {
		return kafka.Record{Key: []byte(key), Time: at, Headers: []kafka.Header{{Key: "tenant", Value: []byte("acme")}, {Key: HeaderErased, Value: []byte(how)}}}
	}
	var r Rolls
	r.NoteRecord(change.Persons, erased("acme:1", t0, "true"))
	r.NoteRecord(change.Persons, kafka.Record{Key: []byte("acme:2"), Time: t0}) // an ordinary tombstone
	r.NoteRecord(change.Persons, kafka.Record{Key: []byte("acme:3"), Value: []byte("x"), Time: t0, Headers: erased("", t0, "true").Headers})
	r.NoteRecord(change.Compensations, erased("acme:c1", t0, "true"))
	r.NoteRecord(change.Compensations, erased("acme:c1", t0.Add(time.Hour), "true")) // erased again: the later counts
	r.NoteRecord(change.Compensations, erased("acme:c2", t0, "true"))
	r.NoteRecord(change.Compensations, erased("acme:c2", t0.Add(time.Minute), HeaderRoll)) // already rolled
	r.Note(change.Persons, "acme:4", t0)
	if r.Len() != 3 {
		t.Fatalf("noted %d, want acme:1, acme:c1 and acme:4", r.Len())
	}
	if got := r.Take(t0.Add(59*time.Minute), time.Hour, topic, notLive); len(got) != 0 {
		t.Fatalf("took %d before the roll", len(got))
	}
	live := func(e change.Entity, key string) bool { return key == "acme:4" } // re-published after a lift
	got := r.Take(t0.Add(time.Hour), time.Hour, topic, live)
	if len(got) != 1 || string(got[0].Key) != "acme:1" || got[0].Topic != "p.persons" || got[0].Value != nil {
		t.Fatalf("took %+v, want the tombstone of acme:1 on p.persons", got)
	}
	hdr := map[string]string{}
	for _, h := range got[0].Headers {
		hdr[h.Key] = string(h.Value)
	}
	if hdr["tenant"] != "acme" || hdr["entity"] != "persons" || hdr[HeaderErased] != HeaderRoll {
		t.Errorf("headers %v", hdr)
	}
	if r.Len() != 1 {
		t.Errorf("%d left, want acme:c1 (acme:4 is live again)", r.Len())
	}
	got = r.Take(t0.Add(2*time.Hour), time.Hour, topic, notLive)
	if len(got) != 1 || string(got[0].Key) != "acme:c1" {
		t.Fatalf("took %+v, want acme:c1", got)
	}
	r.Requeue(got) // the write failed: due at once
	if again := r.Take(t0, time.Hour, topic, notLive); len(again) != 1 || string(again[0].Key) != "acme:c1" {
		t.Errorf("after a requeue took %+v, want acme:c1 at once", again)
	}
	if r.Len() != 0 {
		t.Errorf("%d left", r.Len())
	}
}
