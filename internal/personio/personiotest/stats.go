package personiotest

import (
	"maps"
	"sync"
)

// Stats counts the requests the simulator answered.
type Stats struct {
	// Requests counts API requests by endpoint template ("GET /v2/persons/{id}") and status.
	// A request whose connection was reset counts under status 0.
	Requests map[string]map[int]int64 `json:"requests"`
	// Total is the number of API requests (admin endpoints excluded).
	Total int64 `json:"total"`
	// RateLimited is the number of 429 replies.
	RateLimited int64 `json:"rate_limited"`
	// Faults counts injected faults by kind: "500", "502", "503", "504", "reset", "truncate",
	// "malformed", "redirect".
	Faults map[string]int64 `json:"faults"`
	// CompensationErrors counts the replies of the compensation limits by error type
	// ("compensations.too_many_requests", "compensations.unprocessable_content",
	// "compensations.service_unavailable").
	CompensationErrors map[string]int64 `json:"compensation_errors"`
	// UnfilteredCompensationsPeak is the most compensation requests without a person.id filter
	// that were in progress for one credential at once, counting the one arriving whether or
	// not it was admitted: what a client asked for, not what the limit let through.
	UnfilteredCompensationsPeak int64 `json:"unfiltered_compensations_peak"`
}

// Endpoint is the number of requests to endpoint ("POST /v2/auth/token"), whatever their status.
func (s Stats) Endpoint(endpoint string) int64 {
	var n int64
	for _, v := range s.Requests[endpoint] {
		n += v
	}
	return n
}

type statsCollector struct {
	mu sync.Mutex
	s  Stats
}

func newStatsCollector() *statsCollector {
	return &statsCollector{s: Stats{Requests: map[string]map[int]int64{}, Faults: map[string]int64{}, CompensationErrors: map[string]int64{}}}
}

func (c *statsCollector) compensationError(typ string) {
	c.mu.Lock()
	c.s.CompensationErrors[typ]++
	c.mu.Unlock()
}

func (c *statsCollector) unfilteredPeak(n int) {
	c.mu.Lock()
	c.s.UnfilteredCompensationsPeak = max(c.s.UnfilteredCompensationsPeak, int64(n))
	c.mu.Unlock()
}

func (c *statsCollector) record(endpoint string, status int, fault string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.s.Requests[endpoint]
	if m == nil {
		m = map[int]int64{}
		c.s.Requests[endpoint] = m
	}
	m[status]++
	c.s.Total++
	if status == 429 {
		c.s.RateLimited++
	}
	if fault != "" {
		c.s.Faults[fault]++
	}
}

func (c *statsCollector) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Stats{
		Requests:    make(map[string]map[int]int64, len(c.s.Requests)),
		Total:       c.s.Total,
		RateLimited: c.s.RateLimited,
		Faults:      maps.Clone(c.s.Faults),

		CompensationErrors:          maps.Clone(c.s.CompensationErrors),
		UnfilteredCompensationsPeak: c.s.UnfilteredCompensationsPeak,
	}
	for k, v := range c.s.Requests {
		out.Requests[k] = maps.Clone(v)
	}
	return out
}
