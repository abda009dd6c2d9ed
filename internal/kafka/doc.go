// Package kafka is the pipeline's adapter to Apache Kafka, built on
// github.com/segmentio/kafka-go.
//
// One Client shares one connection pool (transport) between
//
//   - Publish: synchronous, acks=all writes partitioned with murmur2 exactly
//     like the Java client, returning only when every message is
//     acknowledged or saying which ones were not;
//   - EnsureTopics: explicit creation of compacted topics and a drift check
//     of existing ones;
//   - MessageLimits and CheckSize: the largest record batch each topic takes,
//     read once, so that a message too large for its topic is known before
//     it is sent and produce batches stay under the limit;
//   - ReadToEnd: a bounded read of a whole topic (the state rebuild);
//   - Tail: an unbounded follow of a topic (the tail command);
//   - Ping: a metadata round trip for readiness probes.
//
// Every read is read_committed (see committed.go): it skips aborted transactions, which
// kafka-go's own fetch would deliver, and ReadToEnd ends at the high-water mark of its start
// once the transactions open then have ended.
//
// TxnProducer is the other producer: one per tenant, on franz-go's kgo, publishing each call
// in one Kafka transaction under the transactional id <group>.<tenant>. Taking the id over
// fences the previous owner (ErrFenced), so that an instance paused while its tenant moved to
// another cannot publish for it when it wakes up. kgo rather than kafka-go because kafka-go has
// no transactional (nor idempotent) producer.
//
// kafka-go has no idempotent producer. Delivery is at-least-once and the
// pipeline's event ids are deterministic, so a message that is written twice
// is recognisable; what must never happen is that two messages of one key
// swap places. See Publish for how retries keep that promise.
package kafka
