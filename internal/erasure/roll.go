package erasure

import (
	"cmp"
	"slices"
	gosync "sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// HeaderRoll is the value of the erased header on the second tombstone Rolls asks for.
const HeaderRoll = "roll"

// Rolls remembers the erasure tombstones written to each key and when, so that each can be
// written once more after the topic's segment.ms: Kafka never compacts a partition's active
// segment and rolls it only when a record arrives after segment.ms, so in a partition nobody
// writes to, the erased values before the tombstone would stay readable. The second tombstone
// (headers as the first, erased=roll) is that record; it removes nothing a consumer still has.
// It is safe for concurrent use.
type Rolls struct {
	mu  gosync.Mutex
	due map[rollKey]time.Time // when the key got its erasure tombstone
}

type rollKey struct {
	entity change.Entity
	key    string
}

// Note records an erasure tombstone of key on entity's topic written at at. Of two notes of
// a key the later time counts: a second copy written after it rolls the segments of both.
func (r *Rolls) Note(entity change.Entity, key string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.due == nil {
		r.due = map[rollKey]time.Time{}
	}
	k := rollKey{entity, key}
	if t, ok := r.due[k]; !ok || at.After(t) {
		r.due[k] = at
	}
}

// Requeue puts back messages Take returned that could not be written: they are due at once.
func (r *Rolls) Requeue(msgs []kafka.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.due == nil {
		r.due = map[rollKey]time.Time{}
	}
	for _, m := range msgs {
		for _, h := range m.Headers {
			if h.Key == "entity" {
				r.due[rollKey{change.Entity(h.Value), string(m.Key)}] = time.Time{}
			}
		}
	}
}

// NoteRecord notes rec, a record of entity's topic read in offset order, when it is an erasure
// tombstone (a nil value with the header erased=true), and forgets the key again when rec is
// its second copy (erased=roll): a state rebuild notes the tombstones still waiting for it.
func (r *Rolls) NoteRecord(entity change.Entity, rec kafka.Record) {
	if rec.Value != nil {
		return
	}
	for _, h := range rec.Headers {
		if h.Key != HeaderErased {
			continue
		}
		switch string(h.Value) {
		case "true":
			r.Note(entity, string(rec.Key), rec.Time)
		case HeaderRoll:
			r.mu.Lock()
			delete(r.due, rollKey{entity, string(rec.Key)})
			r.mu.Unlock()
		}
		return
	}
}

// Len returns the number of tombstones waiting for their second copy.
func (r *Rolls) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.due)
}

// Take removes and returns the tombstones written at least after ago before now whose key
// live does not report as live again (re-published after a lift: no second tombstone then),
// as the messages to write, in key order; topic names each entity's topic.
func (r *Rolls) Take(now time.Time, after time.Duration, topic func(change.Entity) string, live func(change.Entity, string) bool) []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []rollKey
	for k, at := range r.due {
		switch {
		case live(k.entity, k.key):
			delete(r.due, k)
		case !now.Before(at.Add(after)):
			keys = append(keys, k)
			delete(r.due, k)
		}
	}
	slices.SortFunc(keys, func(a, b rollKey) int {
		return cmp.Or(cmp.Compare(a.entity, b.entity), cmp.Compare(a.key, b.key))
	})
	msgs := make([]kafka.Message, len(keys))
	for i, k := range keys {
		msgs[i] = tombstone(topic(k.entity), k.entity, k.key, HeaderRoll)
	}
	return msgs
}

// tombstone returns the erasure tombstone of key on topic, with the erased header set to how.
func tombstone(topic string, entity change.Entity, key, how string) kafka.Message {
	tenant, _, _ := change.SplitKey(key)
	return kafka.Message{Topic: topic, Key: []byte(key), Headers: []kafka.Header{
		{Key: "tenant", Value: []byte(tenant)},
		{Key: "entity", Value: []byte(entity)},
		{Key: HeaderErased, Value: []byte(how)},
	}}
}
