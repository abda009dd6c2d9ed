// Package extract lists Personio entities as snapshots, one stream per scope.
//
// An Extractor runs independent streams under one errgroup: the persons listing (each person's
// employments fetched by a bounded pool of workers) and one compensation listing per month
// window. Every stream ends with exactly one Snapshot on the output channel. A stream that fails
// still delivers what it read, marked incomplete, so its creates and updates are not lost while
// its deletes are withheld; the other streams carry on. Only cancellation of the context stops
// everything. The Extractor closes the channel when every stream has finished.
//
// Rate limiting is the Source's job: every worker calls the same client, which owns the
// per-tenant limiter.
package extract
