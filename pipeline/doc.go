// Package pipeline holds the stages that turn Personio listings into change events on Kafka.
// One direction, plain values between stages:
//
//	extract ──Snapshot──► sync (diff) ──[]change.Event──► publish ──ack──► state.Apply
//
// The packages:
//
//   - pipeline/change: the shared leaf types (records in normal form, Event, Op, Key) and the
//     entity descriptors (change.Descriptor) that drive every stage.
//   - pipeline/extract: lists persons, their employments (each person's listing a scope of
//     its own) and compensation month windows, one Snapshot per listing on its output channel.
//   - pipeline/diff: compares a listing with the state and produces c/u/d/r events.
//   - pipeline/publish: encodes events, writes them to Kafka, and applies them to the state
//     once Kafka acknowledged them.
//   - pipeline/sync: the runner that wires the stages for one sync run.
//
// # Stage contract
//
// Every send on a channel between stages is
//
//	select {
//	case ch <- v:
//	case <-ctx.Done():
//	}
//
// so no goroutine blocks forever on a reader that has gone away. Further:
//
//   - The stage that creates a channel is the only one that sends on it and closes it, and it
//     closes it exactly once, when all its senders have finished (after errgroup.Wait). The
//     Extractor owns its Snapshot channel.
//   - A receiver that stops early cancels the producer's context and then drains the channel
//     until it is closed, so the producer's goroutines end before Run returns.
//   - A Run(ctx) or other long-running call returns ctx.Err() when it stops because ctx was
//     cancelled, and returns only once every goroutine it started has ended.
//   - Failures of one scope travel as data (an incomplete Snapshot, a partial result): they
//     withhold that scope's deletes and nothing else. Likewise an event too large for its
//     topic: pipeline/publish leaves it out (its key keeps its state, nothing deletes it) and
//     reports it; the rest is published. Only errors that make the whole run meaningless
//     (cancellation, a publish failure) stop it.
//   - Memory handed to another stage or to a client is not reused while it may still be read:
//     pipeline/publish reuses a batch's message memory only after the producer returned
//     without error. After an error kafka-go may still be sending the messages it accepted (a
//     cancelled call stops waiting for their verdict after the write timeout), so that memory
//     is left to the garbage collector.
//   - The state is written in two places only: the rebuild from the topics at start-up (or
//     after a publish failure left it unknown) and state.Apply after Kafka acknowledged a
//     batch. The differ only reads it, so a run that fails publishes nothing that the next
//     run would not compute again with the same event ids. Store.Compact, after a sync's
//     publish and a rebuild, changes only how entries hold their records (compressed), never
//     what they hold.
//
// # Shutdown order
//
// The service (internal/service) stops in this order, each step waiting for the one before:
// no new sync starts; the sync in flight may finish for a bounded time, then its context is
// cancelled — the extractor stops listing and closes its channel, the runner drains it and
// publishes nothing new, and a batch already handed to the producer is either acknowledged
// (and applied) or reported failed (and the state marked for rebuild); then the admin server
// stops, so metrics stay scrapable during the drain; last the Kafka, registry and Personio
// clients are closed. Abandoning a sync is safe: unacknowledged events are computed again on
// the next run with the same event ids.
package pipeline
