// Package state keeps the differ's view of what was last published: per entity and Kafka key,
// the version and content hash of the last event and the record it carried.
//
// The output topics are the state (DESIGN.md §4): at start-up Rebuild replays them (last
// event per key wins, a tombstone removes the key), and after Kafka acknowledged a batch of
// events Apply folds them in. Nothing else writes the state, so it never disagrees with Kafka.
//
// Entries keep the record as its compact Avro encoding (change.AppendRecord) rather than as
// Go values, and Compact compresses it with a dictionary learnt from the entity's own records
// (pack.go): 100k persons cost tens of megabytes, not hundreds. The differ decodes a record
// only when it needs the before image of an update or delete.
package state

import (
	"bytes"
	"fmt"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Entry is what the state holds for one key.
type Entry struct {
	Version int64       // version of the last event of the key
	Hash    change.Hash // content hash of the record (change.ContentHash)
	// Data is the record: its Avro binary encoding (change.AppendRecord) as it came, or
	// compressed once the store compacted the entry (Store.Compact). Treat it as opaque and
	// immutable and read it with RecordData. It is nil only in the Entry a Decoder returns
	// for a "d" event.
	Data []byte
	pack *packing // nil: Data is the encoding as it came
}

// NewEntry builds the entry for a record published with the given version.
func NewEntry(version int64, r change.Record) (Entry, error) {
	b, h, err := change.AppendRecordHash(nil, r)
	if err != nil {
		return Entry{}, err
	}
	return EntryFromData(version, h, b), nil
}

// EntryFromData builds the entry of a record already encoded (data is its Avro encoding, as
// change.AppendRecord produces it) with content hash h, published with the given version.
// data is kept as it is, not copied: it must not change afterwards. It is compressed when
// the store is compacted, so that publishing never waits for compression.
func EntryFromData(version int64, h change.Hash, data []byte) Entry {
	return Entry{Version: version, Hash: h, Data: data}
}

// Record decodes the entry's record.
func (e Entry) Record(entity change.Entity) (change.Record, error) {
	b, err := e.RecordData(entity)
	if err != nil {
		return nil, err
	}
	return change.UnmarshalRecord(entity, b)
}

// RecordData returns the entry's record as its Avro encoding (change.AppendRecord), in a
// fresh slice: what an envelope's before field carries after the union index.
func (e Entry) RecordData(entity change.Entity) ([]byte, error) {
	if e.Data == nil {
		return nil, fmt.Errorf("state: %s entry v%d holds no record", entity, e.Version)
	}
	if e.pack == nil {
		return bytes.Clone(e.Data), nil
	}
	b, err := e.pack.decode(e.Data)
	if err != nil {
		return nil, fmt.Errorf("state: %s entry v%d: %w", entity, e.Version, err)
	}
	return b, nil
}

// Compacted reports whether the entry's record is compressed.
func (e Entry) Compacted() bool { return e.pack != nil }

// Store is the state of one service instance. Implementations are safe for concurrent use.
// Range must not be called with a fn that writes to the same store.
type Store interface {
	// Get returns the live entry of a key.
	Get(entity change.Entity, key string) (Entry, bool)
	// Put sets the live entry of a key.
	Put(entity change.Entity, key string, e Entry)
	// Delete removes the live entry of a key and remembers version as the key's last
	// version (0: unknown), so that a key re-created later continues its sequence.
	Delete(entity change.Entity, key string, version int64)
	// LastVersion returns the version of the key's live entry, else the remembered version
	// of its delete, else 0.
	LastVersion(entity change.Entity, key string) int64
	// Len returns the number of live entries of an entity.
	Len(entity change.Entity) int
	// Range calls fn for every live entry of an entity, in no particular order, until fn
	// returns false.
	Range(entity change.Entity, fn func(key string, e Entry) bool)
	// Compact compresses the records of the entity's entries that are still as they came
	// (see EntryFromData) and returns how many it compressed. The service calls it after
	// each sync's publish and at the end of a rebuild. Entries put meanwhile stay as they
	// are until the next Compact.
	Compact(entity change.Entity) int
}

// Apply folds events that Kafka acknowledged into the store: a delete removes its key (and
// remembers its version), every other event puts its after record.
func Apply(s Store, events []change.Event) error {
	for _, ev := range events {
		if ev.Op == change.Delete {
			s.Delete(ev.Entity, ev.Key, ev.Version)
			continue
		}
		e, err := EntryFromEvent(ev)
		if err != nil {
			return fmt.Errorf("state: apply %s: %w", ev, err)
		}
		s.Put(ev.Entity, ev.Key, e)
	}
	return nil
}

// EntryFromEvent returns the entry an event leaves behind: for a delete an Entry with the
// version and no Data, otherwise the after record with the event's version. A non-zero
// ev.Hash must be the content hash of ev.After (as the differ and change.FromEnvelope set
// it), and ev.AfterData, when set, its encoding (as the differ sets it); they are used as they
// are rather than computed again.
func EntryFromEvent(ev change.Event) (Entry, error) {
	if ev.Op == change.Delete || ev.After == nil {
		return Entry{Version: ev.Version}, nil
	}
	if ev.AfterData != nil && !ev.Hash.IsZero() {
		return EntryFromData(ev.Version, ev.Hash, ev.AfterData), nil
	}
	return NewEntry(ev.Version, ev.After)
}
