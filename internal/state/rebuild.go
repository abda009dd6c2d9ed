package state

import (
	"context"
	"fmt"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// RecordSource replays a topic; kafka.TopicReplay is the one that reads Kafka.
type RecordSource interface {
	// Replay calls fn for every record of the topic from its first offset up to the end
	// offsets it had when Replay started, in offset order within each partition. value is
	// nil for a tombstone. Replay stops at and returns fn's first error, and returns
	// ctx.Err() when ctx is cancelled.
	Replay(ctx context.Context, fn func(key string, value []byte) error) error
}

// Decoder turns one topic record into the entry it leaves behind: an Entry with Data for a
// c/u/r event, an Entry with only Version for a "d" event. It is not called for tombstones.
type Decoder func(key string, value []byte) (Entry, error)

// EnvelopeDecoder builds a Decoder from a function that decodes a topic value into its
// envelope (change.NewEnvelope: *change.PersonChange, *change.CompensationChange, …), e.g.
// the Avro codec. It
// checks that the key is the one the event's content implies.
func EnvelopeDecoder(decode func(value []byte) (any, error)) Decoder {
	return func(key string, value []byte) (Entry, error) {
		env, err := decode(value)
		if err != nil {
			return Entry{}, err
		}
		ev, err := change.FromEnvelope(env)
		if err != nil {
			return Entry{}, err
		}
		if ev.Key != key {
			return Entry{}, fmt.Errorf("event %s names key %q, record key is %q", ev.EventID, ev.Key, key)
		}
		return EntryFromEvent(ev)
	}
}

// rebuildCompactEvery is how many records a rebuild reads between two compactions of the
// entity: the entries it read are held uncompressed only that long, not until the end of the
// topic (each compaction looks at every entry of the entity, so not much more often).
const rebuildCompactEvery = 10_000

// RebuildStats counts what a rebuild read.
type RebuildStats struct {
	Records    int // records read, tombstones included
	Tombstones int
	Deletes    int // "d" events
	Live       int // live entries of the entity afterwards
}

// Rebuild replays an entity's topic into the store: the last event per key wins, a "d" event
// or a tombstone removes the key. It compacts the store's entries of the entity as it reads
// (every rebuildCompactEvery records) and at the end. A record that cannot be decoded fails
// the rebuild: the service must not diff against a state it does not know.
func Rebuild(ctx context.Context, s Store, entity change.Entity, src RecordSource, decode Decoder) (RebuildStats, error) {
	var st RebuildStats
	err := src.Replay(ctx, func(key string, value []byte) error {
		st.Records++
		if value == nil {
			st.Tombstones++
			s.Delete(entity, key, 0)
			return nil
		}
		e, err := decode(key, value)
		if err != nil {
			return fmt.Errorf("decode %s record %d: %w", entity, st.Records, err)
		}
		if e.Data == nil {
			st.Deletes++
			s.Delete(entity, key, e.Version)
			return nil
		}
		s.Put(entity, key, e)
		if st.Records%rebuildCompactEvery == 0 {
			s.Compact(entity)
		}
		return nil
	})
	st.Live = s.Len(entity)
	if err != nil {
		return st, fmt.Errorf("state: rebuild %s: %w", entity, err)
	}
	s.Compact(entity)
	return st, nil
}
