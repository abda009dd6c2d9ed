// Package webhook is the webhook trigger: it receives Personio's webhook deliveries on a
// listener of its own and turns each accepted one into a request for a targeted fetch of one
// person (and, for employment events, that person's employments).
//
// The Receiver authenticates a delivery by the static token Personio sends verbatim in the
// Authorization header (Personio signs nothing), compared in constant time; a wrong or missing
// token is answered 401 before the body is read, and nothing is queued. A body over the size
// limit (413), of another content type (415), not a delivery (400), or of a person or
// employment event that names no person (422) is refused; an event of another kind (absences,
// documents, …) is counted and acknowledged, so that Personio does not retry it. The handler
// never waits on the API or on Kafka: it only enqueues, so it answers well within the 3 s
// Personio allows whatever those are doing.
//
// The Queue is bounded by persons, not by deliveries: deliveries for a person already queued
// merge into its entry, and deliveries for a person whose fetch is in flight mark it for one
// more fetch after the current one (whose reads may predate the change). A delivery that
// would need a new entry in a full queue is answered 503: Personio retries it later, and the
// periodic syncs and the catch-up from Personio's events endpoint cover it in any case. The
// memory the receiver holds is therefore bounded by the queue size, the number of fetches in
// flight and the requests in progress (each at most MaxBodyBytes).
//
// The consumer of the queue (the sync runner's targeted run) takes a Target with Next, fetches
// and publishes, and reports with Done.
//
// A process of many tenants has one listener, the Router: tenant T's deliveries arrive on
// <path>/T and go to T's Receiver (its token, its queue), which T registers while it runs. A
// path naming no configured tenant is 404 before the body is read; a configured tenant with no
// receiver here (another instance of the group owns it) is 503 with Retry-After once its token
// checked, and Personio retries the delivery.
package webhook
