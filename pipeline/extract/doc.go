// Package extract lists Personio entities as snapshots, one stream per scope.
//
// Each entity of change.Entities has a lister (listers in extract.go): the scopes a Request
// makes it list and one stream per scope. A Request names the entities to list (none: all);
// a Snapshot carries its items as the entity's change.Items, which the sync runner puts into
// normal form.
//
// An Extractor runs independent streams under one errgroup: the persons listing (then the
// employments of the persons it listed, by a bounded pool of workers) and one compensation
// listing per month window. Every scope requested ends with exactly one Snapshot on the output
// channel (the persons stream sends the persons', then the employments'). A stream that fails
// still delivers what it read, marked incomplete, so its creates and updates are not lost while
// its deletes are withheld; the other streams carry on. Only cancellation of the context stops
// everything. The Extractor closes the channel when every stream has finished.
//
// # Parallel listings
//
// One cursor chain waits for every page before it can ask for the next, so at 300-500 ms per
// page it reaches about 2.5 requests/s, half of Personio's budget of 5/s. The Extractor
// therefore lists in parallel, so that the budget, not the latency, bounds a sync:
//
//   - A full persons listing is split at K-1 created_at boundaries b1 < … < bK-1
//     (WithPersonChains, default 6) into the chains created_at.lt=b1,
//     created_at.gt=b_i&created_at.lt=b_i+1, created_at.gt=bK-1, plus one created_at=b_i
//     listing per boundary (usually one request). Whether Personio matches created_at=b to the
//     second or by day, every person is in at least one of them; the union drops an item
//     identical to one already kept. Two different items with one id are both kept (the
//     differ counts a conflict: that key is neither updated nor deleted), and so is an item
//     without id (the normalizer rejects it, which makes the listing incomplete): dropping
//     either would make an existing person look deleted. The snapshot is complete only if
//     every chain completed. The boundaries are the
//     quantiles of Request.PersonsCreatedAt when given (the state's persons), else of the
//     previous complete full listing of this Extractor, else (first listing after a start)
//     an even split of [EarliestCreatedAt, now].
//   - An incremental listing (updated_at.gt) returns few pages and stays one chain.
//   - Each compensation month is split into WithCompensationWindows (default 1) consecutive,
//     non-overlapping date ranges that cover it exactly, listed at the same time. Their union
//     drops an item identical to one already kept (identical items without id are separate
//     payments: it keeps as many as the one listing with the most) and keeps two different
//     items with the same identity, which the differ counts as a conflict. The month is complete only if every
//     sub-window completed; whether Personio filters by effective_from or by "active in the
//     window", the union covers the month.
//
// # Compensation limits
//
// Personio serves at most 2 compensation requests without a person.id filter per company at
// once; the client (the Source) holds one of 2 slots per credential for each, so the month
// listings and their sub-windows queue there whatever their number: more sub-windows add
// requests (partial last pages), not speed, hence the default 1. Personio stops a request that
// takes too long (422 compensations.unprocessable_content, personio.ErrTooMuchData) and the
// same request would fail again, so the extractor asks for less: the two halves of the date
// range, listed at once (more listings than slots keep both slots busy) and each the same way,
// down to one day, then half the page size, down to MinCompensationsLimit (100, 50, 25, 12). It never sends one request twice, drops the items of
// a listing it splits (its halves list them again) and remembers the range length that had to
// be halved, so later listings start with ranges that fit. A day too large even at the
// smallest page ends its month's snapshot incomplete with a *TooMuchDataError naming the day
// and stops the rest of that month's listing (no deletes follow); the other months and the
// persons go on.
//
// # Employments
//
// Personio lists employments per person only (GET /v2/persons/{id}/employments), so the
// employments stream lists them after the persons listing that says whose: every person a
// full listing returned, the persons an incremental listing returned, and Request.EmploymentsOf
// (without a persons listing when persons are not requested: the seam for a rolling refresh).
// At most WithEmploymentWorkers listings run at once. Each person's listing is its own scope
// (Snapshot.Parts, "employments:<person id>"): one that fails withholds that person's deletes
// only. Snapshot.Rest says that the persons listing was exhaustive and every item had an id,
// so that a person it no longer returns is gone, and their employments with them. Persons
// carry their employments as ids only (the persons response's employments[].id): one request
// per person, 10,000 requests (33 minutes at 300/min) per full sync, is the employments
// stream's cost alone, and the persons topic never waits for it.
//
// Rate limiting is the Source's job: every chain and worker calls the same client, which owns
// the per-tenant limiter.
package extract
