package personiotest

import (
	"net/http"
	"sync"
	"time"
)

// Personio's limits on reading compensations (developer changelog "New limits on reading
// Compensations", in force since 2026-11-04, and "Rate Limits on the Compensations API (v2)",
// in force from 2027-01-13), as the simulator models them by default.
const (
	// DefaultCompensationConcurrency is how many compensation requests without a person.id
	// filter a company may have in progress; one more gets 429
	// compensations.too_many_requests with Retry-After.
	DefaultCompensationConcurrency = 2
	// DefaultCompensationWorkLimit is the most work (see Options.CompensationWorkLimit) a
	// compensation request may take before it is stopped with 422
	// compensations.unprocessable_content. A whole month (31 days) at limit 100 fits for a
	// company of up to 2,903 persons; a company of 10,000 persons gets at most 9 days per
	// request.
	DefaultCompensationWorkLimit = 100_000
	// CompensationPageItemWork is the work of one item of the requested page size (limit).
	CompensationPageItemWork = 100
	// DefaultCompensationRetryAfter is the Retry-After of the concurrency 429 and of the 503.
	DefaultCompensationRetryAfter = 30 * time.Second
)

// DefaultCompensationRateLimitFrom is when Personio's 5 requests per second per company and
// compensation endpoint take effect (2027-01-13, UTC).
var DefaultCompensationRateLimitFrom = time.Date(2027, 1, 13, 0, 0, 0, 0, time.UTC)

// Error types of the compensations API, as Personio sends them in errors[].type.
const (
	typeCompTooManyRequests = "compensations.too_many_requests"
	typeCompUnprocessable   = "compensations.unprocessable_content"
	typeCompUnavailable     = "compensations.service_unavailable"
)

// compLimits counts, per credential (one company), the compensation requests without a
// person.id filter in progress.
type compLimits struct {
	max int // <= 0: no limit

	mu       sync.Mutex
	inFlight map[string]int
}

// enter admits a request of client, or reports that the company already has max unfiltered
// requests in progress. filtered requests (person.id) are not counted. peak is the number in
// progress counting this one, admitted or not. release must be called once when an admitted
// request is done.
func (l *compLimits) enter(client string, filtered bool) (release func(), peak int, ok bool) {
	if filtered {
		return func() {}, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	peak = l.inFlight[client] + 1
	if l.max > 0 && peak > l.max {
		return nil, peak, false
	}
	l.inFlight[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.inFlight[client]--
			l.mu.Unlock()
		})
	}, peak, true
}

// compensationGate applies, before the backend works on a compensation request, the
// temporary unavailability (Options.CompensationUnavailable) and the concurrency limit. When
// it returns ok, release must be called once the reply is written.
func (s *Server) compensationGate(r *http.Request, client string) (release func(), resp response, ok bool) {
	if p := s.opts.CompensationUnavailable; p > 0 {
		s.faultMu.Lock()
		roll := s.rng.Float64()
		s.faultMu.Unlock()
		if roll < p {
			s.stats.compensationError(typeCompUnavailable)
			return nil, problemResponse(http.StatusServiceUnavailable, http.StatusText(http.StatusServiceUnavailable), typeCompUnavailable,
				"The Compensations API is temporarily unavailable.", s.opts.CompensationRetryAfter), false
		}
	}
	filtered := r.URL.Query().Get("person.id") != ""
	release, peak, ok := s.comp.enter(client, filtered)
	s.stats.unfilteredPeak(peak)
	if !ok {
		s.stats.compensationError(typeCompTooManyRequests)
		return nil, problemResponse(http.StatusTooManyRequests, http.StatusText(http.StatusTooManyRequests), typeCompTooManyRequests,
			"Too many compensation requests without a person.id filter are in progress.", s.opts.CompensationRetryAfter), false
	}
	return release, response{}, true
}

// compensationWork is the processing-time model of a compensation request: Personio's
// backend works out the compensations of every person the filters cover, day by day, over the
// requested range, then serialises a page: persons × days + CompensationPageItemWork × limit.
// A request whose work exceeds Options.CompensationWorkLimit runs into Personio's time limit.
// Called with s.mu held for reading.
func (s *Server) compensationWork(from, to time.Time, persons, entities map[string]bool, limit int) int64 {
	days := int64(to.Sub(from).Hours()/24) + 1
	var covered int64
	for _, p := range s.data.persons {
		if persons != nil && !persons[p.p.ID] {
			continue
		}
		if entities != nil {
			in := false
			for _, e := range p.emps {
				in = in || entities[e.e.LegalEntity.ID]
			}
			if !in {
				continue
			}
		}
		covered++
	}
	return covered*days + int64(CompensationPageItemWork*limit)
}

// tooMuchWork is the 422 of a request whose work exceeds the limit.
func (s *Server) tooMuchWork(work int64) (response, bool) {
	if limit := s.workLimit.Load(); limit <= 0 || work <= limit {
		return response{}, false
	}
	s.stats.compensationError(typeCompUnprocessable)
	return problemResponse(http.StatusUnprocessableEntity, http.StatusText(http.StatusUnprocessableEntity), typeCompUnprocessable,
		"The request took too long to process. Request less data.", 0), true
}

// compensationBucket returns the budget a compensation request draws on at now: from
// Options.CompensationRateLimitFrom the stricter CompensationRateLimit, before it a bucket of
// the general rate (Options.RateLimit) of its own.
func (s *Server) compensationBucket(now time.Time) bucketKind {
	if now.Before(s.opts.CompensationRateLimitFrom) {
		return bucketCompensationEarly
	}
	return bucketCompensation
}

// SetCompensationWorkLimit replaces Options.CompensationWorkLimit from the next request on (a
// company that grew, or Personio tightening its time limit); negative turns it off.
func (s *Server) SetCompensationWorkLimit(n int) { s.workLimit.Store(int64(n)) }
