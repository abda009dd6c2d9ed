// Package erasure keeps the list of erased persons and removes their data from the topics.
//
// An erasure (a person's right to be forgotten) is a record on the compacted topic
// <prefix>.erasures, keyed "<tenant>:<person id>", whose value (Entry, JSON) says when and,
// if given, by whom and why: no personal data beyond the id in the key. Lifting an erasure is
// a tombstone for that key. The list is read like the state: from offset 0 to the end (Read).
//
// Erasing a person tombstones every live key that belongs to them on every entity topic: the
// keys whose record names them as its subject (change.Record.SubjectID: the person itself,
// their compensations, later their employments). Enforce does that against a state store, so
// the erase command (after writing the erasure record and rebuilding the state from the
// topics) and the sync runner (whenever its list gains an erasure) use the same code. A sync
// also leaves out every listed record of an erased person (Erased), so Personio still listing
// the person does not publish them again until the erasure is lifted.
//
// An erasure publishes no "d" event: a "d" carries the before image, the very data to erase.
// Its tombstones carry the headers tenant, entity and erased=true; consumers must treat a
// tombstone as "forget this key" (README "Events"). Rolls has the running service write each
// once more (erased=roll) after the topic's segment.ms, so that the segment holding the erased
// values rolls and gets compacted even when nothing else reaches its partition.
//
// The package is named for what it does with the erasure list; it sits in internal next to
// state, whose stores it reads and writes, and is used by pipeline/sync and the command.
package erasure
