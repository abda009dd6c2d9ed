package erasure

import (
	"context"
	"fmt"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Producer writes messages in order and returns once all are acknowledged. *kafka.Client
// satisfies it.
type Producer interface {
	Publish(ctx context.Context, msgs []kafka.Message) error
}

// Target is where erased keys are tombstoned: the entity topics and the producer.
type Target struct {
	// Topic names the topic of an entity.
	Topic    func(change.Entity) string
	Producer Producer
	// Rolls, when set, notes every tombstone written, for its second copy (see Rolls).
	Rolls *Rolls
	// Now is the clock of the notes; default time.Now.
	Now func() time.Time
}

// Tombstoned counts, per entity, the keys an enforcement tombstoned.
type Tombstoned map[change.Entity]int

// Total returns the number of keys tombstoned.
func (t Tombstoned) Total() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

// Enforce tombstones every live key of the store, on every listed entity, whose record
// belongs to a person of erased (change.Record.SubjectID, under the key's tenant), and once
// Kafka acknowledged the tombstones removes the keys from the store, remembering their
// versions (state.Store.Delete). It sends no "d" event. On an error the store is left as it
// was: enforcing again sends the tombstones again, which is harmless.
//
// It decodes the records of the tenants erased names, so it costs about a state rebuild's
// decoding; callers enforce only erasures that are new to them.
func Enforce(ctx context.Context, t Target, store state.Store, entities []change.Entity, erased *List) (Tombstoned, error) {
	out := Tombstoned{}
	if erased.Len() == 0 {
		return out, nil
	}
	tenants := map[string]bool{}
	for _, k := range erased.Keys() {
		tenant, _, _ := change.SplitKey(k)
		tenants[tenant] = true
	}
	type hit struct {
		entity  change.Entity
		key     string
		version int64
	}
	var hits []hit
	for _, e := range entities {
		var err error
		store.Range(e, func(key string, entry state.Entry) bool {
			tenant, _, ok := change.SplitKey(key)
			if !ok || !tenants[tenant] {
				return true
			}
			rec, derr := entry.Record(e)
			if derr != nil {
				err = fmt.Errorf("erasure: stored %s record: %w", e, derr)
				return false
			}
			if erased.Erased(tenant, rec.SubjectID()) {
				hits = append(hits, hit{entity: e, key: key, version: entry.Version})
			}
			return true
		})
		if err != nil {
			return out, err
		}
	}
	if len(hits) == 0 {
		return out, nil
	}
	msgs := make([]kafka.Message, len(hits))
	for i, h := range hits {
		msgs[i] = tombstone(t.Topic(h.entity), h.entity, h.key, "true")
	}
	if err := t.Producer.Publish(ctx, msgs); err != nil {
		return out, fmt.Errorf("erasure: tombstone %d keys: %w", len(msgs), err)
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	for _, h := range hits {
		store.Delete(h.entity, h.key, h.version)
		out[h.entity]++
		if t.Rolls != nil {
			t.Rolls.Note(h.entity, h.key, now())
		}
	}
	return out, nil
}
