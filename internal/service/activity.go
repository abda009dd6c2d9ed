package service

import (
	"context"
	gosync "sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// ActivityWindow is how far back /status counts the published events (events_last_24h).
const ActivityWindow = 24 * time.Hour

// Activity is the /status view of what the service did recently, beyond the last sync: the
// events it published in the last 24 hours and the Personio API traffic since it started.
// Counts, rates and durations only.
type Activity struct {
	Tenant string `json:"tenant"`
	// EventsLast24h counts the events the syncs that ended in the last 24 hours published, by
	// entity and op (a sync counts wholly at its end).
	EventsLast24h map[string]map[string]int `json:"events_last_24h"`
	// PersonioAPI is the Personio client's traffic since the service started.
	PersonioAPI APIActivity `json:"personio_api"`
}

// APIActivity counts the Personio client's requests and shows its rate limiter.
type APIActivity struct {
	Requests           int64   `json:"requests"`
	RateLimited        int64   `json:"rate_limited"` // 429 responses
	Retries            int64   `json:"retries"`
	LimiterWaitSeconds float64 `json:"limiter_wait_seconds"` // time spent waiting on the limiter
	// Budgets are the limiter's request budgets: the rate it allows now (lowered after a 429,
	// or to what Personio announces) and the configured one.
	Budgets []BudgetActivity `json:"budgets"`
}

// BudgetActivity is one budget of the client-side rate limiter.
type BudgetActivity struct {
	Budget              string  `json:"budget"` // default (every call) or compensations
	PerMinute           float64 `json:"per_minute"`
	ConfiguredPerMinute float64 `json:"configured_per_minute"`
}

// apiActivity reads the Personio client's counters and limiter rates.
func apiActivity(c *personio.Client, cfg config.Personio) APIActivity {
	st := c.Stats()
	def, comp := c.RateLimits()
	return APIActivity{
		Requests:           st.Requests,
		RateLimited:        st.RateLimited,
		Retries:            st.Retries,
		LimiterWaitSeconds: st.LimiterWait.Seconds(),
		Budgets: []BudgetActivity{
			{Budget: "default", PerMinute: def * 60, ConfiguredPerMinute: cfg.RateLimitPerMinute},
			{Budget: "compensations", PerMinute: comp * 60, ConfiguredPerMinute: cfg.CompensationRateLimitPerMinute},
		},
	}
}

// recentEvents keeps the events published by the syncs of the last ActivityWindow, by the
// sync's end; safe for concurrent use.
type recentEvents struct {
	mu   gosync.Mutex
	runs []recentRun // by end, oldest first
}

type recentRun struct {
	ended   time.Time
	changes map[string]map[string]int // entity → op → events
}

// record adds the events a finished sync published (a failed or partial sync publishes too).
func (r *recentEvents) record(res syncrun.Result, now time.Time) {
	run := recentRun{ended: res.Ended, changes: map[string]map[string]int{}}
	if run.ended.IsZero() {
		run.ended = now
	}
	for _, e := range res.Entities {
		for op, n := range e.Changes {
			if n == 0 {
				continue
			}
			if run.changes[e.Entity] == nil {
				run.changes[e.Entity] = map[string]int{}
			}
			run.changes[e.Entity][op] += n
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	if len(run.changes) > 0 {
		r.runs = append(r.runs, run)
	}
}

// counts sums the events of the syncs that ended within ActivityWindow before now.
func (r *recentEvents) counts(now time.Time) map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	out := map[string]map[string]int{}
	for _, run := range r.runs {
		for entity, ops := range run.changes {
			if out[entity] == nil {
				out[entity] = map[string]int{}
			}
			for op, n := range ops {
				out[entity][op] += n
			}
		}
	}
	return out
}

// prune drops the syncs that ended ActivityWindow or longer before now; r.mu is held.
func (r *recentEvents) prune(now time.Time) {
	cut := now.Add(-ActivityWindow)
	i := 0
	for i < len(r.runs) && !r.runs[i].ended.After(cut) {
		i++
	}
	r.runs = r.runs[i:]
}

// recordingRunner passes every sync to Runner and records what it published in events.
// after, when set, is called once each sync returned.
type recordingRunner struct {
	Runner
	events *recentEvents
	after  func()
}

func (r recordingRunner) Run(ctx context.Context, kind syncrun.Kind, opts ...syncrun.RunOption) (syncrun.Result, error) {
	res, err := r.Runner.Run(ctx, kind, opts...)
	r.events.record(res, time.Now())
	if r.after != nil {
		r.after()
	}
	return res, err
}
