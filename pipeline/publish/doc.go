// Package publish sends change events to Kafka and, only once Kafka acknowledged them, folds
// them into the state.
//
// Each event becomes one message on the topic <prefix>.<entity> with the key
// "<tenant>:<id>", the Avro envelope in the Confluent wire format as value, and the headers
// event_id, op, tenant and entity. A delete is the "d" event followed, in the same ordered
// batch, by a tombstone (nil value) for the same key; the tombstone carries only the tenant and
// entity headers, so a consumer that deduplicates on the event_id header does not mistake it for
// a second copy of the "d" event.
//
// Events are sent in batches (DefaultBatchSize events each), one producer call at a time so
// that every key keeps its order. Encoding is spread over the available cores; while a batch is
// in flight, the state entries it will leave are computed and the next batch is encoded. A batch
// is applied to the state only after every one of its messages was acknowledged, so the state
// never runs ahead of the topic. Any failure after a batch was handed to the producer leaves
// the state possibly behind the topic: the error then matches ErrStateUnknown and the caller
// must rebuild the state from the topics before it diffs again (DESIGN.md §4).
//
// An event whose message its topic would refuse as too large (the producer is a SizeLimiter;
// the limits come from the topics' max.message.bytes, read before the first send) is left out of
// its batch: not sent, not applied. The rest of the batch goes out as usual, and Publish reports
// what it left out in a *SkipError (entity, reason, sizes; no key, no content). The key keeps its
// state, so nothing deletes it and the next sync computes the same event again.
//
// The memory of a batch's messages (keys, headers) is reused for a later batch only
// after the producer returned without error, i.e. every message of the batch has its verdict.
// A producer call that ended with an error may have left messages with kafka-go that it still
// sends (a cancelled call that got no answer within the write timeout): that batch's memory is
// never reused, so a late write can only carry the bytes it was given.
package publish
