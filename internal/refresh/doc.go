// Package refresh is the rolling refresh of employments: a trigger that decides whose
// employments are read next, how fast, and what it reports. It reads nothing itself; the
// service asks the sync runner to list the employments of the persons a Plan names (each
// person's listing is its own completeness scope) and tells the Planner which ones completed.
//
// # Why a rotation
//
// Personio lists employments only per person (/v2/persons/{id}/employments), and a person's
// updated_at need not move when one of their employments changes, so no incremental listing
// finds every employment change. The rotation re-reads every person's employments at least
// once per Period while spending at most Share of the request budget: one request per person
// and period (10,000 persons, 24 h: about 7 requests a minute of the 300 allowed) instead of
// one per person on every full sync.
//
// # Order
//
// A Plan takes persons in this order: first those never verified and those whose updated_at
// differs from the one seen when their employments were last verified (something about the
// person changed, perhaps their employment with it), then the rest by the time of their last
// verification, oldest first, ties by id. Persons gone from a complete persons listing leave
// the rotation (their employments are deleted by the persons listing's own scope).
//
// # Pace
//
// The persons in that order have deadlines: their last verification plus the Period minus a
// slack of a tenth of the Period (room for the time the scheduled syncs occupy and for a
// restart). The required pace is the smallest rate that meets every deadline in that order
// (for the j-th person, j persons by its deadline). The Planner goes at that pace, or at the
// cap (Share × the budget) while persons are never verified or moved, and never faster than
// the cap. When even the cap cannot meet the deadlines without the slack, the rotation is
// Behind: /status, personio_cdc_employment_refresh_behind and the alert
// PersonioCDCEmploymentRefreshBehind say so, with the share the period would need.
//
// # Never delaying the scheduled syncs
//
// The refresh runs in the scheduler's loop, between the scheduled syncs, never beside one
// (the runner runs one sync at a time). A batch starts only when it fits before the next
// scheduled sync: Plan is given that time, and takes at most as many persons as the budget
// could read twice over in it (once for the batch's own requests at the full budget rate,
// once for the shared limiter's bucket to refill, so the sync finds it as full as it would
// have without the refresh). Between batches the Planner waits until the pace allows the
// next one, which keeps the refresh's average rate at or below Share of the budget.
//
// # Resuming after a restart
//
// The employments topic cannot say when a person was last verified: a refresh that finds
// nothing changed publishes nothing (a no-change sync publishes nothing), and a person
// without employments has no record there at all. Reading every person again after a restart
// would cost a day's rotation in an hour. So each verification is written as a small record
// (Verification: the person's updated_at as seen and the time of the verification, JSON, no
// personal data beyond the id in the key) keyed "<tenant>:<person id>" on the compacted topic
// <prefix>.employments.verified; last record per key wins, a tombstone forgets the person.
// Restore rebuilds the Planner from those records; the rotation then continues where it
// stopped. A lost record (the service stopped before writing it) only makes that person due
// again: the record is written after the listing, never before, so it never claims a
// verification that did not happen.
package refresh
