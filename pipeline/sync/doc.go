// Package sync runs the change-event pipeline of one tenant: Runner.Run(ctx, kind) takes the
// state, extracts, diffs, publishes and records what happened.
//
// # A run
//
//  1. Prepare: register the schemas (once), create the topics (once, when an admin is
//     configured) and, at the first run or after a failure that left the state unknown,
//     rebuild the state by reading every output topic to its end (DESIGN.md §4). Then read
//     the erasures topic (internal/erasure) and tombstone the live keys of every person erased
//     since the last run (after a rebuild: of every erased person); the run leaves every listed
//     record of an erased person out. After publishing, the erasures are read once more, so
//     that a person erased while the run listed is tombstoned again before Run returns.
//  2. Extract: the extractor's streams (persons with their employments, one per compensation
//     month window) deliver one snapshot per scope on a channel it closes.
//  3. Diff: each entity has one diff run fed by all of its snapshots. Once the last scope of an
//     entity arrived, the run finishes: deletes only from complete listings (persons: the whole
//     listing; compensations: the windows listed completely), and the mass-delete guard
//     withholds every event of the entity when it would delete too much, the field-loss guard
//     when it would empty one field of too many (a credential that lost a field's scope);
//     both compare with the stored entries of the scope that was listed, never the whole
//     entity (diff.Scope).
//  4. Publish: the entity's events go to Kafka and, only once acknowledged, into the state. A
//     publish failure stops the run and, when messages may have reached Kafka, marks the state
//     dirty so that the next run rebuilds it first.
//
// Entities publish independently: persons may be published while compensation windows are
// still being listed, and a guard trip on one entity does not hold back the other.
//
// # Kinds
//
//   - full: everything is listed; c, u and d.
//   - incremental: persons updated after the high-water mark minus the skew margin, and the
//     compensation window of the current month (Personio filters compensations by no update
//     time; the look-back months wait for the next full sync); c and u only (deletes come from
//     the next full sync).
//   - resnapshot: a full listing that emits "r" for every listed entity (and for stored
//     compensations outside the listed windows), plus the deletes a full sync would emit.
//
// WithEntities restricts a run of any kind to some entities: the others are neither listed
// nor published, and their state, topics and /status entries stay as they were.
//
// The high-water mark is the largest person updated_at of the runner's last complete persons
// listing (listed and published). It is never taken from the rebuilt state: the newest person
// on the topics may come from a listing that reached Kafka only in part, and starting after it
// would skip the older changes that did not. A restarted runner therefore has none until its
// first complete persons listing, and an incremental sync without one lists every person
// (still without deletes).
//
// The rebuilt state does serve one purpose in listing: while the persons topic is read back,
// the runner notes every live person's created_at (an instant per person, not the record), and
// unfiltered persons listings split their parallel chains at those quantiles
// (extract.Request.PersonsCreatedAt) until one of them completes; from then on the extractor
// splits where that listing's persons were. Without it the first listing after a start would
// split the years evenly and could take up to twice as long.
//
// # Outcomes
//
// Complete: every listing finished and everything was published. Partial: some listing or
// some item failed; what was read was published, the deletes of the failed scopes were
// withheld; Run returns no error. Failed: the guard withheld an entity, publishing failed,
// Personio refused the credential (the first refused listing cancels every other one, and the
// error matches ErrCredential and personio.ErrAuth), or the context ended; Run returns an
// error. Every outcome is in the Result, in the /status view
// (Status) and in the personio_cdc_* metrics.
package sync
