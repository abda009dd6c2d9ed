// Package personiotest is a faithful, deterministic simulator of the Personio API v2: the
// OAuth2 token endpoints, persons, employments and compensations, with Personio's pagination,
// filters, error bodies and rate-limit behaviour, plus fault injection and data churn.
//
// Every test, benchmark and the demo of this project runs against it. Build one with New (and
// Start it) or with NewTestServer in tests:
//
//	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 200, Seed: 7})
//	// srv.URL(), srv.Churn(...), srv.Truth(), srv.SetFaults(...), srv.Stats()
//
// # Data
//
// New builds a synthetic company from Options.Seed with gofakeit: the same seed (and the same
// UTC day of Options.Now) yields the same data. Timestamps are RFC 3339 UTC with second
// precision; generated ones lie in the past of the day the server was built. Person ids are
// numeric strings that grow with creation order; employment and compensation ids are UUIDs.
// Custom attribute values travel as strings (lists as arrays of strings), as the official spec
// describes.
//
// # Faithfulness to the spec
//
// Replies are checked against Personio's official v2 specs (testdata/personio-v2,
// contract_test.go). Every person carries _meta.links.employments.href and every employment
// _meta.links.person (and .supervisor), as in the specs' examples; profile_picture.url points
// at the simulator itself, which serves a 1×1 PNG there (GET /v2/persons/{id}/profile-picture,
// with a token). The _meta links are built from the origin the client used (scheme and Host),
// as next links are; the picture URL is content and names Options.PublicURL (default: the URL
// the server listens on) whatever host the client used, in replies and in Truth. Where the spec contradicts itself
// the simulator follows its schema, and our client reads both: custom attribute types are
// upper case as the enum says (the examples send "string"), the last working day is
// termination.last_working_day as the schema says (the examples say last_working_date).
//
// # Pagination
//
// Every list is ordered by an immutable creation sequence. A cursor encodes the last sequence
// number served, so paging while the data changes never skips or repeats an item: deleted
// items vanish, new ones appear at the end. Next links are absolute, built from the request's
// Host, and keep every query parameter of the request except the cursor.
//
// # Rate limits
//
// Each credential has a token bucket for persons and employments (default 300/min, burst 15),
// one for compensations (default 300/min, burst 5, from 2027-01-13; see below) and one for the
// token endpoint (150/min, burst 10). Every API response carries x-ratelimit-remaining (whole tokens left),
// x-ratelimit-replenish-rate (tokens per second) and x-ratelimit-burst-capacity. Over budget
// the reply is 429 with an error body and no Retry-After (unlike the compensation concurrency
// limit below). With Options.NoRateLimit there is no
// budget, so replies carry no x-ratelimit-* headers (a client would otherwise throttle itself
// for a limit that does not exist). Options.NoRateLimitHeaders keeps the budgets and sends no
// x-ratelimit-* header: a client learns the budget from 429s alone.
//
// # Compensations
//
// Personio publishes no spec for GET /v2/compensations; the simulator serves the item shape
// described in DESIGN.md §2. start_date and end_date (YYYY-MM-DD) are given together or not
// at all (then the current month is used); end_date must not precede start_date and must lie
// before the same day of the next month (clamped to that month's last day: a window starting
// January 31 must end before February 28). An item is in the window when its effective_from
// is. limit is 1–100, default 100; person.id and legal_entity.id take comma lists.
//
// # Compensation limits
//
// Personio's limits on reading compensations are on by default, with its status codes, headers
// and problem+json bodies (errors[].type as Personio documents it):
//
//   - Concurrency (since 2026-11-04): at most Options.CompensationConcurrency (2) requests
//     without a person.id filter in progress per credential, from admission until the reply is
//     written (latency included); one more gets 429 compensations.too_many_requests with
//     Retry-After (Options.CompensationRetryAfter, 30 s). Filtered requests do not count.
//     Stats.UnfilteredCompensationsPeak is the most that were asked for at once.
//   - Time limit: a request's work is persons its filters cover × days of its range +
//     CompensationPageItemWork (100) × limit. Over Options.CompensationWorkLimit (100,000) it
//     gets 422 compensations.unprocessable_content, without Retry-After; the same request always
//     does. A month at limit 100 fits a company of up to 2,903 persons, the default company
//     (100) and every test company of this project easily; a company of 10,000 persons gets at
//     most 9 days per request. Server.SetCompensationWorkLimit changes it on a running server.
//   - Unavailability: with probability Options.CompensationUnavailable a compensation request
//     gets 503 compensations.service_unavailable with Retry-After.
//   - Rate: from Options.CompensationRateLimitFrom (2027-01-13, compared with Options.Now)
//     compensations draw on CompensationRateLimit (5/s, burst 5); before it on a bucket of the
//     general RateLimit of their own. NoRateLimit turns the rates off, not the limits above.
//
// Stats.CompensationErrors counts these replies by error type. personio-sim has a flag for
// each: --comp-concurrency, --comp-work-limit, --comp-unavailable, --comp-retry-after,
// --comp-rate-limit-from.
//
// # Churn
//
// Server.Churn (or POST /admin/churn, or Options.ChurnEvery in the background) hires,
// terminates, deletes, renames, changes emails and custom attributes, raises salaries, pays
// bonuses, and changes employments alone (Churn.EmploymentChanges: weekly hours, position,
// supervisor or office; Churn.CostCenterChanges: cost centers and weights). Every change to a
// person or employment moves its updated_at strictly forward using the clock;
// compensation-only and employment-only changes leave the person's updated_at alone, as
// Personio does, so only the person's employment listing (updated_at.gt) shows the latter.
// DefaultChurnMix makes one of each employment-only change per tick. A deleted person takes
// their employments and compensations along; employments of
// others that name them as supervisor keep the reference.
//
// # Faults
//
// Options.Faults, Server.SetFaults or PUT /admin/faults inject 500/502/503/504 replies with
// error bodies, connection resets, bodies cut short of their Content-Length, malformed JSON,
// latency with jitter, and early token expiry. Draws come from one source seeded by
// Options.Seed. Token endpoints are faulted only with Faults.TokenFaults.
//
// Hostile behaviours, each on while set: Faults.RedirectAPI (302 to another origin for every
// API request), Faults.RedirectToken (307 to another origin for every token request),
// Faults.EndlessEmptyPages (listings never end: empty pages with fresh next cursors after the
// last item), Faults.ExpiresIn and Faults.OmitExpiresIn (an absurd, negative or missing
// expires_in in token responses) and Faults.EchoSecret (the token endpoint refuses with a 400
// that echoes the client secret).
//
// # Hidden fields
//
// Options.HiddenFields, Server.SetHiddenFields or PUT /admin/hidden-fields (a JSON list) leave
// fields out of person and compensation replies, as Personio does for a credential without
// their scope: "email", "first_name", "custom_attributes", "custom_attributes.<id or
// global_id>", "amount", … Truth is unaffected.
//
// # Hostile replies
//
// Options.Hostile, Server.SetHostile, PUT /admin/hostile (a JSON list) or personio-sim
// --hostile CASE[,CASE] make the simulator answer like a broken or malicious Personio for some
// items or requests: redirects to another origin (a second loopback listener that records
// what reached it, Server.OtherOrigin), persons without or with a null or duplicate id, dates
// in year 0 and 2099, endless empty pages, error texts echoing the client secret, a 1 MiB
// name, a German-formatted amount, a negative token lifetime, control characters in a name.
// Hostile lists the cases; some borrow the hostile behaviours of Faults. Truth is unaffected.
//
// # Webhooks
//
// POST, GET /v2/webhooks and GET, PATCH, DELETE /v2/webhooks/{id} manage webhooks as
// Personio's webhooks API does: url (https://; http:// only on loopback hosts unless
// WebhookOptions.AllowHTTP), description and enabled_events required, status default
// DISABLED, auth_type default TOKEN (NONE, TOKEN with token, CUSTOM with 1–3 custom_headers);
// the token is never served back; a second webhook for the same url is 409. Churn fires
// person.created|updated|deleted and employment.created|updated|terminated|deleted (see
// webhookEvents; person.updated only for names, email and custom attributes, as Personio;
// compensation changes fire nothing) and Server.FireWebhookEvent fires any one event. Each
// ENABLED webhook that enabled the name records the event and gets a POST of
// {company_id, occurred_at, event_name, payload} with the token verbatim in Authorization
// (or the custom headers); payloads hold ids only: {"id"} for persons, {"id", "person":
// {"id"}} for employments. A timeout, transport error or 5xx other than 501 is retried after
// WebhookOptions.Backoff, doubled each time, up to WebhookOptions.Attempts; a 4xx is not.
// GET /v2/webhooks/{id}/events lists a webhook's events of the last 30 days (by Options.Now)
// oldest first, each with an id, filtered by occurred_at[.gt|.lt] and event_name (comma
// list), limit 1–200 (default 100), paged by cursor. Personio's redelivery endpoint is not
// simulated (its public reference could not be checked).
//
// # Many companies
//
// NewCompanies(n, opts) (NewTestCompanies in tests, personio-sim --companies N) serves n
// companies on one listener, for a service that holds many Personio accounts. Each company is
// a Server of its own built from opts: --persons persons, rate budgets, compensation limits,
// faults, churn (ChurnEvery churns every company), hidden fields, hostile cases and webhooks,
// all its own. Company i (1-based) has the id and client_id CompanyID(i) (company-01, …,
// company-100), the client_secret CompanySecret(opts.ClientSecret, i) (sim-secret-01, …),
// the data seed CompanySeed(opts.Seed, i) (company-01 keeps the seed: its data are New's) and
// the webhook company_id i. Companies.WriteCredentials(dir) writes each secret to
// dir/<id>.secret. A token request goes to the company its client_id names, an API request
// to the company that issued its bearer token (papi-<id>-…), which checks the token itself;
// what names no company is answered by company-01 (400 invalid_client, 401). Person ids are
// drawn per company from one range, so some repeat across companies as different people.
//
// Admin endpoints of a company are under /admin/companies/{id}/ (…/truth, …/churn,
// …/faults, …/stats, …/hidden-fields, …/hostile); GET /admin/companies lists the companies
// (id, client_id, seed, persons, webhook_company_id, admin). POST /admin/churn and PUT
// /admin/faults apply to every company (the churn reply maps ids to results); the other
// unqualified paths answer 404 with more than one company and are the only company's with one.
// In Go, Companies.Company(id) and Companies.Servers() give each company's Server.
//
// # Admin endpoints
//
// POST /admin/churn (JSON Churn), GET /admin/truth, PUT /admin/faults (JSON Faults,
// durations as Go duration strings, the hostile ones as redirect_api, redirect_token,
// endless_empty_pages, expires_in, omit_expires_in and echo_secret), PUT and GET /admin/hidden-fields,
// PUT and GET /admin/hostile, GET /admin/stats and GET /admin/webhooks (WebhookStats). They need no token and are never
// faulted or rate-limited.
package personiotest
