package refresh

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of a Config.
const (
	DefaultPeriod   = 24 * time.Hour
	DefaultShare    = 0.5
	DefaultBudget   = 5.0 // requests per second: Personio's 300 per minute
	DefaultMaxBatch = 25
)

// slackDivisor sets the slack: the rotation aims to verify every person a tenth of the
// Period before its deadline.
const slackDivisor = 10

// Config configures a Planner.
type Config struct {
	// Period is the longest a person's employments may go unverified
	// (EMPLOYMENT_REFRESH_PERIOD).
	Period time.Duration
	// Share is the largest share of the request budget the refresh may spend, in (0, 1]
	// (EMPLOYMENT_REFRESH_BUDGET_SHARE).
	Share float64
	// Budget is the request budget in requests per second (the Personio client's rate).
	Budget float64
	// MaxBatch bounds the persons of one batch (one sync run).
	MaxBatch int
	// Registerer receives the metrics (nil: none registered).
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Period: DefaultPeriod, Share: DefaultShare, Budget: DefaultBudget, MaxBatch: DefaultMaxBatch}
}

func (c Config) validate() error {
	var errs []string
	if c.Period < time.Minute {
		errs = append(errs, fmt.Sprintf("period must be at least 1m, got %s", c.Period))
	}
	if !(c.Share > 0 && c.Share <= 1) {
		errs = append(errs, fmt.Sprintf("budget share must be in (0, 1], got %g", c.Share))
	}
	if !(c.Budget > 0) || math.IsInf(c.Budget, 0) {
		errs = append(errs, fmt.Sprintf("budget must be a positive number of requests per second, got %g", c.Budget))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Sprintf("max batch must be >= 1, got %d", c.MaxBatch))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %v", ErrConfig, errs)
	}
	return nil
}

// Person is a person as a persons listing gives it.
type Person struct {
	ID        string
	UpdatedAt time.Time
}

// person is what the Planner knows of one person.
type person struct {
	listed    bool      // in the last persons listing (a restored record alone does not count)
	updatedAt time.Time // as last listed
	firstSeen time.Time
	// verifiedAt is the last completed employment listing (zero: never), seen the person's
	// updated_at as it was then.
	verifiedAt time.Time
	seen       time.Time
	inFlight   bool
}

func (p *person) priority() bool { return p.verifiedAt.IsZero() || !p.updatedAt.Equal(p.seen) }

// since is the start of the person's current wait: its last verification, or when the
// Planner first saw it.
func (p *person) since() time.Time {
	if p.verifiedAt.IsZero() {
		return p.firstSeen
	}
	return p.verifiedAt
}

// Plan is the next step of the rotation.
type Plan struct {
	// Persons are the ids whose employments to read now (empty: nothing to read now).
	Persons []string
	// At is when the plan was made; Done takes it back.
	At time.Time
	// Deadline is when the batch must stop taking requests: the room given to Next less the
	// time the budget needs to give back the batch's requests, so that the shared limiter is
	// full again when the next sync starts.
	Deadline time.Time
	// Wait is how long until the next batch is due when Persons is empty and the pace holds
	// it back; zero when nothing is due or the next scheduled sync leaves no room.
	Wait time.Duration
	// updated holds the updated_at of each planned person as known when planned.
	updated map[string]time.Time
}

// Planner is the rotation: it knows every listed person, when its employments were last
// verified, and decides whose to read next and how fast. It is safe for concurrent use.
type Planner struct {
	cfg     Config
	metrics *metrics

	mu       gosync.Mutex
	persons  map[string]*person
	nextAt   time.Time // no batch before this (the pace)
	restored int
	last     Status
}

// New validates cfg and returns an empty Planner.
func New(cfg Config) (*Planner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Planner{cfg: cfg, metrics: newMetrics(cfg.Registerer), persons: make(map[string]*person)}
	p.metrics.share.Set(cfg.Share)
	p.last = Status{Period: cfg.Period.String(), BudgetShare: cfg.Share}
	return p, nil
}

// Restore loads verification records (read from the topic at start): each person's last
// verification. Records of persons no listing names yet wait for Observe; a later record of
// the same person wins.
func (p *Planner) Restore(records []Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range records {
		e := p.persons[r.PersonID]
		if e == nil {
			e = &person{}
			p.persons[r.PersonID] = e
		}
		if r.VerifiedAt.After(e.verifiedAt) {
			e.verifiedAt, e.seen = r.VerifiedAt, r.UpdatedAt
		}
	}
	p.restored = len(records)
}

// Forget drops persons from the rotation (a tombstone on the topic, an erased person).
func (p *Planner) Forget(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.persons, id)
	}
}

// Observe records the persons of a persons listing at now. A complete listing also removes
// the persons it does not name; a partial one (an incremental sync) only adds and updates.
// It returns the ids removed, whose verification records may be tombstoned.
func (p *Planner) Observe(now time.Time, listed []Person, complete bool) (removed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if complete {
		for _, e := range p.persons {
			e.listed = false
		}
	}
	for _, l := range listed {
		e := p.persons[l.ID]
		if e == nil {
			e = &person{}
			p.persons[l.ID] = e
		}
		if !e.listed && e.firstSeen.IsZero() {
			e.firstSeen = now
		}
		e.listed, e.updatedAt = true, l.UpdatedAt
	}
	if complete {
		for id, e := range p.persons {
			if !e.listed {
				delete(p.persons, id)
				removed = append(removed, id)
			}
		}
		slices.Sort(removed)
	}
	p.report(now)
	return removed
}

// queued is one person in rotation order.
type queued struct {
	id       string
	e        *person
	priority bool
	since    int64     // e.since() in Unix nanoseconds: the sort key
	deadline time.Time // since + Period
}

// queue returns the listed persons not in flight in rotation order: priority persons (never
// verified, or updated_at moved) first, then oldest wait first, ties by id.
func (p *Planner) queue() []queued {
	q := make([]queued, 0, len(p.persons))
	for id, e := range p.persons {
		if e.listed && !e.inFlight {
			since := e.since()
			q = append(q, queued{id: id, e: e, priority: e.priority(), since: since.UnixNano(), deadline: since.Add(p.cfg.Period)})
		}
	}
	slices.SortFunc(q, func(a, b queued) int {
		if a.priority != b.priority {
			if a.priority {
				return -1
			}
			return 1
		}
		if a.since != b.since {
			return cmp.Compare(a.since, b.since)
		}
		return strings.Compare(a.id, b.id)
	})
	return q
}

// required returns the smallest rate (persons per second) that verifies the j-th person of q
// by its deadline minus slack, for every j; overdue counts the persons already past it.
// Remaining times are floored at one minute so that an overdue person asks for a finite rate.
func required(q []queued, now time.Time, slack time.Duration) (rate float64, overdue int) {
	for j, x := range q {
		left := x.deadline.Add(-slack).Sub(now)
		if left <= 0 {
			overdue++
		}
		left = max(left, time.Minute)
		rate = max(rate, float64(j+1)/left.Seconds())
	}
	return rate, overdue
}

// maxRate returns the refresh's largest rate: Share of the budget, in requests (persons) per second.
func (p *Planner) maxRate() float64 { return p.cfg.Share * p.cfg.Budget }

// Next returns the next batch at now. room is the time until the next scheduled sync (a
// negative or zero room: one is due; a very large one: none is scheduled). The batch is no
// larger than the budget could read twice over in room, so that it ends and the shared
// limiter refills before that sync (see the package doc). An empty Plan with a Wait means the
// pace holds the next batch back that long.
func (p *Planner) Next(now time.Time, room time.Duration) Plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.nextAt) {
		return Plan{At: now, Wait: p.nextAt.Sub(now)}
	}
	st := p.report(now)
	if len(st.queue) == 0 {
		return Plan{At: now}
	}
	fit := int(math.Floor(room.Seconds() * p.cfg.Budget / 2))
	n := min(p.cfg.MaxBatch, len(st.queue), fit)
	if st.Priority > 0 {
		// At the cap for the priority persons only: the others wait for their pace.
		n = min(n, st.Priority)
	}
	if n <= 0 {
		return Plan{At: now}
	}
	refill := time.Duration(float64(n) / p.cfg.Budget * float64(time.Second))
	plan := Plan{At: now, Deadline: now.Add(room - refill), Persons: make([]string, n), updated: make(map[string]time.Time, n)}
	for i, x := range st.queue[:n] {
		plan.Persons[i] = x.id
		plan.updated[x.id] = x.e.updatedAt
		x.e.inFlight = true
	}
	p.nextAt = now.Add(time.Duration(float64(n) / st.pace * float64(time.Second)))
	return plan
}

// Done ends a batch at now: the persons of verified had their employment listing completed
// (and what changed published); the others of the plan wait for another batch. It returns the
// verification records to write, in the plan's order.
func (p *Planner) Done(now time.Time, plan Plan, verified []string) []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := make(map[string]bool, len(verified))
	for _, id := range verified {
		ok[id] = true
	}
	var recs []Record
	for _, id := range plan.Persons {
		e := p.persons[id]
		if e == nil {
			continue // gone from a complete listing meanwhile
		}
		e.inFlight = false
		if !ok[id] {
			continue
		}
		e.verifiedAt, e.seen = now, plan.updated[id]
		recs = append(recs, Record{PersonID: id, Verification: Verification{VerifiedAt: now, UpdatedAt: e.seen}})
	}
	p.metrics.read.Add(float64(len(recs)))
	p.metrics.batches.WithLabelValues(batchOutcome(len(recs), len(plan.Persons))).Inc()
	return recs
}

func batchOutcome(verified, planned int) string {
	switch verified {
	case planned:
		return "complete"
	case 0:
		return "failed"
	}
	return "partial"
}

// status is a Status with the queue it was computed from.
type status struct {
	Status
	queue []queued
	pace  float64
}

// report computes the status at now and updates the metrics; p.mu is held.
func (p *Planner) report(now time.Time) status {
	q := p.queue()
	st := Status{Period: p.cfg.Period.String(), BudgetShare: p.cfg.Share, Persons: len(q), Restored: p.restored}
	inFlight := 0
	for _, e := range p.persons {
		if !e.listed {
			continue
		}
		if e.inFlight {
			inFlight++
		}
		if !e.verifiedAt.IsZero() && now.Sub(e.verifiedAt) < p.cfg.Period {
			st.VerifiedInPeriod++
		}
		if s := e.since(); st.OldestWaitingSince.IsZero() || s.Before(st.OldestWaitingSince) {
			st.OldestWaitingSince = s
		}
	}
	st.Persons += inFlight
	if !st.OldestWaitingSince.IsZero() {
		st.OldestUnverifiedAgeSeconds = max(0, now.Sub(st.OldestWaitingSince).Seconds())
	}
	if st.Persons > 0 {
		st.Progress = float64(st.VerifiedInPeriod) / float64(st.Persons)
	}
	for _, x := range q {
		if !x.priority {
			break // the priority persons come first
		}
		st.Priority++
	}
	slack := p.cfg.Period / slackDivisor
	aim, _ := required(q, now, slack)
	need, overdue := required(q, now, 0)
	st.Overdue = overdue
	st.RequiredShare = need / p.cfg.Budget
	st.Behind = overdue > 0 || need > p.maxRate()
	pace := min(aim, p.maxRate())
	if st.Priority > 0 {
		pace = p.maxRate()
	}
	if len(q) > 0 && p.nextAt.After(now) {
		st.NextBatch = p.nextAt
	}
	p.last = st

	m := p.metrics
	m.persons.Set(float64(st.Persons))
	m.verified.Set(float64(st.VerifiedInPeriod))
	m.priority.Set(float64(st.Priority))
	if !st.OldestWaitingSince.IsZero() {
		m.oldest.Set(float64(st.OldestWaitingSince.UnixMilli()) / 1000)
	}
	m.requiredShare.Set(st.RequiredShare)
	m.behind.Set(boolGauge(st.Behind))
	m.pace.Set(pace)
	return status{Status: st, queue: q, pace: pace}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Status is the /status view of the rotation.
type Status struct {
	Period      string  `json:"period"`
	BudgetShare float64 `json:"budget_share"`
	// Persons in the rotation (listed by the last persons listing).
	Persons int `json:"persons"`
	// VerifiedInPeriod were verified within the last Period; Progress is their share.
	VerifiedInPeriod int     `json:"verified_in_period"`
	Progress         float64 `json:"progress"`
	// Priority persons were never verified or their updated_at moved since: read first.
	Priority int `json:"priority"`
	// Overdue persons have waited longer than the Period.
	Overdue int `json:"overdue"`
	// OldestWaitingSince is the last verification (or first sight) of the person waiting
	// longest; OldestUnverifiedAgeSeconds is its age.
	OldestWaitingSince         time.Time `json:"oldest_waiting_since,omitzero"`
	OldestUnverifiedAgeSeconds float64   `json:"oldest_unverified_age_seconds"`
	// RequiredShare is the share of the request budget the rotation needs to verify every
	// person within the Period from now; Behind is true when it exceeds BudgetShare or a
	// person is overdue.
	RequiredShare float64 `json:"required_share"`
	Behind        bool    `json:"behind"`
	// NextBatch is when the pace allows the next batch.
	NextBatch time.Time `json:"next_batch,omitzero"`
	// Restored counts the verification records read from the topic at start.
	Restored int `json:"restored_records"`
}

// Status returns the rotation's status as of the last plan or observation, the age of the
// oldest unverified person as of now.
func (p *Planner) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.last
	if !st.OldestWaitingSince.IsZero() {
		st.OldestUnverifiedAgeSeconds = max(0, time.Since(st.OldestWaitingSince).Seconds())
	}
	return st
}

// StatusAt computes the status at now (and updates the metrics).
func (p *Planner) StatusAt(now time.Time) Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.report(now).Status
}
