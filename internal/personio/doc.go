// Package personio reads the Personio HR API v2: persons, employments and compensations.
//
// A Client authenticates with OAuth2 client credentials (POST /v2/auth/token, cached and
// refreshed shortly before expiry; a 401 drops the token and retries once), follows cursor
// paging through _meta.links.next.href, retries what is worth retrying and paces itself with
// an adaptive rate limiter. It hands plain values from types.go to a callback, one page at a
// time:
//
//	c, err := personio.New(personio.Config{ClientID: id, ClientSecret: secret, Registerer: reg})
//	err = c.ListPersons(ctx, personio.PersonFilter{UpdatedAfter: since}, func(ps []personio.Person) error {
//		return emit(ps)
//	})
//	for _, w := range personio.MonthWindows(from, to) {
//		err = c.ListCompensations(ctx, personio.CompensationFilter{Window: w}, handle)
//	}
//
// # Budgets
//
// One Client serves one credential; share it between every worker that uses the credential.
// It holds two budgets, like Personio: persons and employments (default 300/min, bursts of
// 15) and compensations (default 5/s, bursts of 5). Every request, retries included, first
// waits on its budget. The budget follows the server's x-ratelimit-replenish-rate,
// -burst-capacity and -remaining headers downward (never above the configured rate), keeps one
// token of the burst as headroom against network jitter, halves its rate on a 429 (down to a
// sixteenth of the configured rate) and wins it back by a fiftieth of the configured rate per
// successful request. Waiters are served one at a time and re-plan when the budget changes,
// so a queue never fires in a bunch.
//
// # Compensation limits
//
// Since 2026-11-04 Personio lets a company have at most 2 compensation requests without a
// person.id filter in progress; a third gets 429 with Retry-After: 30 and error type
// compensations.too_many_requests. Every such request (each page, each retry) therefore first
// takes one of DefaultCompensationConcurrency slots (Config.CompensationSlots: one
// golang.org/x/sync/semaphore per credential, shared by every Client of it) and gives it back
// as soon as the reply is read, before any wait to retry; the slot is taken before the
// budget, so a request never holds a budget token while it waits for a slot. Requests filtered
// by person.id take no slot. A reply with a Retry-After (the concurrency 429, the 503 of
// compensations.service_unavailable) is retried after exactly that long, or when ctx ends;
// a 429 with one does not lower the rate, since the rate was not the cause (the rate-limit 429
// has no Retry-After and keeps the adaptive handling above). A 422 of
// compensations.unprocessable_content (the request took too long; the same request always
// will) is returned at once and matches ErrTooMuchData: the caller asks for less
// (pipeline/extract halves the date range, then the page size). From 2027-01-13 Personio
// allows 5 requests/s per compensation endpoint, the default CompensationRateLimit.
//
// # Errors
//
// Failures are classified once, where they happen (see errors.go): *APIError carries the HTTP
// status, Personio's error type and trace id and the route template (never the URL, whose query
// may hold e-mail addresses, nor the body's title or detail, which may quote personal data or,
// from the token endpoint, the client secret); Retryable reports whether a later attempt may
// succeed. A 429 is retried until the context ends; 5xx, timeouts, connection resets and
// malformed or truncated bodies up to Config.MaxAttempts times with full-jitter exponential
// backoff; 400, 403, 404 and 422 are returned at once (errors.Is(err, ErrNotFound) for a 404).
// Bad credentials, a revoked credential or a missing scope give an *AuthError
// (errors.Is(err, ErrAuth)). As a last line of defence every error a method returns has the
// client secret and the current access token cut out of its message.
//
// # A hostile or broken server
//
// No request follows a redirect to another origin (scheme, host, port): the token request
// would post the client secret there, an API request would take its data from there. Such a
// reply fails the request with a *RedirectError (ErrCrossOriginRedirect, not retryable).
// Redirects within the origin are followed, up to 10. A next link to another origin or one
// already followed ends a listing with an error, and so does a listing with more pages than its
// items explain (ErrListingBrokenOff: 8 empty pages in a row, or 2·⌈items/limit⌉ + 8 pages,
// while next links keep coming). A token announced with a lifetime under a minute (or none,
// or a negative one) is kept for a minute; token requests are paced (a burst of 3, then one a
// second) however many callers retry.
//
// # Observability
//
// With Config.Registerer the client exports personio_cdc_api_requests_total{endpoint,status},
// personio_cdc_api_request_duration_seconds{endpoint},
// personio_cdc_api_retries_total{endpoint,reason},
// personio_cdc_api_rate_limit_wait_seconds_total{budget},
// personio_cdc_api_rate_limit_per_second{budget},
// personio_cdc_api_errors_total{endpoint,status,reason} (reason: Personio's error type as
// APIError.Code gives it, "none" without one; free text never becomes a label) and
// personio_cdc_api_compensation_slot_wait_seconds_total. Client.Stats returns the same story as
// cumulative counters for progress reports.
package personio
