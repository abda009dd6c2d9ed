package sync

import (
	"maps"
	"slices"
	gosync "sync"
	"time"
)

// Phase is the state of an entity's latest sync, as /status shows it.
type Phase string

// Phases of an entity's sync.
const (
	PhaseIdle    Phase = "IDLE"    // no sync has run yet
	PhaseSyncing Phase = "SYNCING" // a sync is running
	PhaseDone    Phase = "DONE"    // the last sync completed without error
	PhasePartial Phase = "PARTIAL" // the last sync published what it read, but some listing failed
	PhaseFailed  Phase = "FAILED"  // the last sync published nothing or stopped on an error
)

// EntityStatus is the /status view of one entity. It holds counts and error descriptions
// (codes, settings, HTTP statuses) only, never personal data or Personio's free text.
type EntityStatus struct {
	Entity        string         `json:"entity"`
	Phase         Phase          `json:"phase"`
	LastKind      Kind           `json:"last_kind,omitempty"`
	LastSyncID    string         `json:"last_sync_id,omitempty"`
	LastStart     time.Time      `json:"last_start,omitzero"`
	LastEnd       time.Time      `json:"last_end,omitzero"`
	LastSuccess   time.Time      `json:"last_success,omitzero"`
	Extracted     int            `json:"extracted"`
	Changes       map[string]int `json:"changes,omitempty"` // by op
	StateEntities int            `json:"state_entities"`
	// LastError describes the last error in one line (ErrorInfo.String): a code and what
	// locates it, never the error's own text.
	LastError string `json:"last_error,omitempty"`
	// LastErrorDetail is the same error, as an ErrorInfo.
	LastErrorDetail *ErrorInfo `json:"last_error_detail,omitempty"`
	DeleteGuardTrip bool       `json:"delete_guard_tripped,omitempty"`
}

// Status is the /status view of one tenant.
type Status struct {
	Tenant   string         `json:"tenant"`
	Running  bool           `json:"running"`
	Last     *Result        `json:"last_result,omitempty"`
	Entities []EntityStatus `json:"entities"`
}

// statusBoard keeps the live status; safe for concurrent use.
type statusBoard struct {
	mu       gosync.Mutex
	tenant   string
	running  bool
	last     *Result
	entities map[string]*EntityStatus
}

func newStatusBoard(tenant string, entities []string) *statusBoard {
	b := &statusBoard{tenant: tenant, entities: map[string]*EntityStatus{}}
	for _, e := range entities {
		b.entities[e] = &EntityStatus{Entity: e, Phase: PhaseIdle}
	}
	return b
}

func (b *statusBoard) snapshot() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Status{Tenant: b.tenant, Running: b.running}
	if b.last != nil {
		r := b.last.clone()
		st.Last = &r
	}
	for _, name := range slices.Sorted(maps.Keys(b.entities)) {
		e := *b.entities[name]
		e.Changes = maps.Clone(e.Changes)
		if e.LastErrorDetail != nil {
			d := *e.LastErrorDetail
			e.LastErrorDetail = &d
		}
		st.Entities = append(st.Entities, e)
	}
	return st
}

// begin marks every entity of a starting run as syncing.
func (b *statusBoard) begin(res Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running = true
	for _, er := range res.Entities {
		s := b.entry(er.Entity)
		s.Phase = PhaseSyncing
		s.LastKind = res.Kind
		s.LastSyncID = res.SyncID
		s.LastStart = res.Started
	}
}

// end records a finished run.
func (b *statusBoard) end(res Result, live map[string]int, runErr error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running = false
	r := res.clone()
	b.last = &r
	for _, er := range res.Entities {
		s := b.entry(er.Entity)
		s.LastEnd = res.Ended
		s.Extracted = er.Extracted
		s.Changes = maps.Clone(er.Changes)
		s.DeleteGuardTrip = er.GuardTripped
		if n, ok := live[er.Entity]; ok {
			s.StateEntities = n
		}
		s.LastError, s.LastErrorDetail = "", nil
		var info ErrorInfo
		if n := len(er.ErrorDetails); n > 0 {
			info = er.ErrorDetails[n-1]
		} else if runErr != nil && er.Outcome == Failed {
			info = Describe(runErr)
			if info.Entity == "" {
				info.Entity = er.Entity
			}
		}
		if info.Code != "" {
			s.LastError, s.LastErrorDetail = info.String(), &info
		}
		switch er.Outcome {
		case Complete:
			s.Phase = PhaseDone
			s.LastSuccess = res.Ended
		case Partial:
			s.Phase = PhasePartial
		default:
			s.Phase = PhaseFailed
		}
	}
}

func (b *statusBoard) entry(entity string) *EntityStatus {
	s, ok := b.entities[entity]
	if !ok {
		s = &EntityStatus{Entity: entity, Phase: PhaseIdle}
		b.entities[entity] = s
	}
	return s
}
