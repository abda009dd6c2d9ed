// Package diff turns fresh listings of Personio entities into change events by comparing them
// with the state of what was last published.
//
// # Events
//
// For every listed record the differ computes its key (change.Key) and content hash
// (change.ContentHash, which ignores updated_at) and looks the key up in the state:
//
//   - key not in the state: "c" with version LastVersion+1. The state remembers the version
//     of a deleted key as long as the topic still holds its "d" event or tombstone, so a key
//     re-created within that time continues its sequence; after that it starts again at 1.
//   - same hash: nothing. A change of updated_at alone publishes nothing: payroll consumers
//     care about content.
//   - other hash: "u" with version+1, before = the stored record, changed_fields =
//     change.ChangedFields(before, after).
//   - re-snapshot (source.sync_kind "resnapshot"): "r" for every listed record with
//     version+1, before null, changed_fields against the stored record (empty when
//     unchanged).
//
// When the run finishes, keys of the tenant that are in the state, inside the listing's
// scope and absent from the listing become "d" events (version+1, after null) — but only
// when the listing was complete, and never for an incremental sync. Persons are scoped to the
// whole tenant; compensations to the month windows that were listed completely (a
// compensation belongs to the window containing its effective_from).
//
// The event id is change.EventID(key, entity, version, op, hash): a crash before Kafka
// acknowledged an event leaves the state as it was, so the retry computes the same version,
// hash and id.
//
// # Mass-delete guard
//
// If the deletes of a run exceed the configured share (default 0.2) of the tenant's stored
// entries inside the listed scope (Scope.Contains: for compensations the month windows that
// were listed completely, for persons every person of the tenant), and that scope holds at
// least the guard's minimum (default 10) entries, Finish returns a *MassDeleteError and no
// events at all for the entity. A listing that would delete every entry of a scope holding
// at least two is refused whatever the minimum: that is what a credential that lost a scope
// looks like. WithoutDeleteGuard turns the guard off (the operator's override).
//
// The share is never taken of the whole entity. The state keeps every compensation month it
// has ever seen while a sync lists only the last few, so after a year or two the listed
// months hold a small part of the stored entries: compared with all of them, a complete but
// empty listing of the current months (a legal-entity filter set on the credential in
// Personio's UI narrows what compensations return, silently) would delete every current
// salary without reaching the share. A scope defined by a filter (persons by status, a
// future entity listed per parent) is guarded the same way through its Contains.
//
// # Field-loss guard
//
// Personio omits the fields a credential may not read, so a credential that lost a scope
// makes a field vanish from every record at once: without a guard every person would get a
// "u" event with that field nulled. When a run finishes, the differ counts per field family
// (see FieldEmpty: "email", "custom_attributes.<id>", "employments.*.status") the "u" and
// "r" events that take the field from a value to empty or absent. If one family's count
// exceeds the same share of the tenant's stored entries inside the scope the listing looked
// at (Scope.Listed, complete or not; default Scope.Contains; for a listing filtered by
// updated_at, Scope.Filtered, the listed keys the state holds), and that scope holds at least
// the guard's minimum, Finish returns a *FieldLossError (ErrMassFieldLoss) and no events for
// the entity. WithoutDeleteGuard turns this guard off as well: the override publishes what
// Personio sent.
//
// Finding which stored entries lie inside a scope that is not the whole tenant means decoding
// them (a compensation's effective_from); Finish does so only when a guard needs the count.
//
// # Memory
//
// A Run keeps only the keys it has seen (with a short hash) and the events it produced, so
// the caller can feed it page by page and drop each page: a sync without changes holds no
// records at all.
package diff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Defaults of the mass-delete guard.
const (
	DefaultDeleteRatio    = 0.2
	DefaultDeleteGuardMin = 10
)

// Reader is the part of the state the differ reads; state.Store satisfies it.
type Reader interface {
	Get(entity change.Entity, key string) (state.Entry, bool)
	LastVersion(entity change.Entity, key string) int64
	Range(entity change.Entity, fn func(key string, e state.Entry) bool)
}

// Differ holds the differ's configuration. It is safe for concurrent use; each sync of each
// entity uses its own Run.
type Differ struct {
	ratio    float64
	guardMin int
	guardOff bool
	policy   *change.Policy
	now      func() time.Time
}

// Option configures a Differ.
type Option func(*Differ) error

// WithDeleteGuard sets the mass-delete guard: a run may delete at most ratio (0 < ratio ≤ 1)
// of the entity's live entries once the state holds at least minCount of them.
func WithDeleteGuard(ratio float64, minCount int) Option {
	return func(d *Differ) error {
		if !(ratio > 0 && ratio <= 1) {
			return fmt.Errorf("diff: delete guard ratio %v is not in (0, 1]", ratio)
		}
		if minCount < 0 {
			return fmt.Errorf("diff: delete guard minimum %d is negative", minCount)
		}
		d.ratio, d.guardMin = ratio, minCount
		return nil
	}
}

// WithoutDeleteGuard turns the mass-delete guard and the field-loss guard off (the
// operator's override, DELETE_GUARD_OVERRIDE).
func WithoutDeleteGuard() Option {
	return func(d *Differ) error { d.guardOff = true; return nil }
}

// WithPolicy sets the field policy the listed records were normalised with
// (change.Normalizer.UsePolicy). The differ applies it to every before image it takes from the
// state (change.Policy.Scrub), so that the "u" and "d" events of records published before the
// policy carry no value it drops or hashes; changed_fields still names the fields the policy
// changed, and the field-loss guard does not count a field the policy drops. nil: none.
func WithPolicy(p *change.Policy) Option {
	return func(d *Differ) error { d.policy = p; return nil }
}

// WithClock sets the clock that stamps events (ts_ms); default time.Now.
func WithClock(now func() time.Time) Option {
	return func(d *Differ) error {
		if now == nil {
			return errors.New("diff: nil clock")
		}
		d.now = now
		return nil
	}
}

// New returns a Differ.
func New(opts ...Option) (*Differ, error) {
	d := &Differ{ratio: DefaultDeleteRatio, guardMin: DefaultDeleteGuardMin, now: time.Now}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Scope says what a listing covered, for deletes.
type Scope struct {
	// Complete is true when the listing ran to its end without error. Only a complete
	// listing deletes.
	Complete bool
	// Contains selects the stored records the listing covered completely: those a complete
	// listing deletes when it did not list them, and those the mass-delete guard counts.
	// nil means every record of the tenant and entity (persons).
	Contains func(change.Record) bool
	// Listed selects the stored records the listing looked at, completely or not (for
	// compensations: every month window listed, including those that failed): those the
	// field-loss guard counts. nil means Contains.
	Listed func(change.Record) bool
	// KeyIn, when not nil, selects the stored keys inside the scope before any record is
	// decoded: a key it rejects is outside Contains and Listed, and is not decoded (a
	// targeted run covers a few persons of many). Contains and Listed still apply to the keys
	// it accepts.
	KeyIn func(key string) bool
	// GuardAll makes the mass-delete guard count every stored record of the tenant, not
	// only those inside Contains: for a listing that knows every scope, some of them known
	// empty (employments after an exhaustive persons listing, see Covered), whose deletes
	// are to be weighed against everything it knows of, not against the gone scopes alone.
	GuardAll bool
	// Filtered is true when the listing asked only for records changed since a point in
	// time (an incremental persons listing). Its scope is then the records it returned —
	// a stored record cannot tell whether it would have matched — so the field-loss guard
	// counts the listed keys the state holds, and nothing is deleted.
	Filtered bool
}

// Window is a range of dates, both ends inclusive (as the Personio client's month windows).
type Window struct{ Start, End time.Time }

// EffectiveIn returns a Scope.Contains for compensations listed in the given windows: a
// compensation is covered when its effective_from falls inside one of them.
func EffectiveIn(windows ...Window) func(change.Record) bool {
	ws := slices.Clone(windows)
	return func(r change.Record) bool {
		c, ok := r.(*change.Compensation)
		if !ok {
			return false
		}
		d := c.EffectiveFrom.UTC().Truncate(24 * time.Hour)
		for _, w := range ws {
			if !d.Before(w.Start.UTC().Truncate(24*time.Hour)) && !d.After(w.End.UTC().Truncate(24*time.Hour)) {
				return true
			}
		}
		return false
	}
}

// Covered returns the Scope of a listing of an entity listed in scopes (change.Descriptor.Scope)
// that listed the scopes listed, of which complete were listed completely. With rest, every
// scope of the entity that was not listed is known to be empty (employments: the person is
// gone from a complete persons listing), so it is covered too: its stored records are deleted,
// and the mass-delete guard weighs the deletes against every stored record (GuardAll).
// A record whose scope cannot be told is never covered.
func Covered(d *change.Descriptor, complete, listed []string, rest bool) Scope {
	done := make(map[string]bool, len(complete))
	for _, s := range complete {
		done[s] = true
	}
	seen := make(map[string]bool, len(listed))
	for _, s := range listed {
		seen[s] = true
	}
	in := func(r change.Record) (string, bool) {
		s, err := d.ScopeOf(r)
		return s, err == nil
	}
	return Scope{
		Complete: len(complete) > 0 || rest,
		GuardAll: rest,
		Contains: func(r change.Record) bool {
			s, ok := in(r)
			return ok && (done[s] || (rest && !seen[s]))
		},
		Listed: func(r change.Record) bool {
			s, ok := in(r)
			return ok && seen[s]
		},
	}
}

// Result is the outcome of a run.
type Result struct {
	Events    []change.Event // sorted by key
	Listed    int            // records added
	Unchanged int            // records equal to the state
	Conflicts int            // keys listed twice with different content; skipped, not deleted
}

// Run diffs one listing of one entity of one tenant. Add records page by page, then Finish.
// A Run is not safe for concurrent use.
type Run struct {
	d         *Differ
	st        Reader
	desc      *change.Descriptor
	entity    change.Entity
	src       change.Source
	prefix    string
	seen      map[string]listed // every key listed so far
	inState   int               // keys listed so far that the state holds
	events    [][]change.Event  // the changes found, in listing order, in chunks; Op "" marks one dropped
	n, kept   int               // events found, and not dropped
	data      []byte            // arena the records are encoded into; the events' AfterData are cut from it
	conflicts map[string]bool
	lost      map[string][]string // key → field families the listing emptied (fieldloss.go)
	res       Result
	finished  bool
}

// Begin starts a run. src carries tenant, sync id, kind and extraction time; System is
// filled in and EntityUpdatedAt is set per event.
func (d *Differ) Begin(st Reader, entity change.Entity, src change.Source) (*Run, error) {
	if st == nil {
		return nil, errors.New("diff: nil state")
	}
	desc, err := change.Describe(entity)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	if src.Tenant == "" || strings.Contains(src.Tenant, ":") {
		return nil, fmt.Errorf("diff: tenant %q is empty or contains ':'", src.Tenant)
	}
	switch change.SyncKind(src.SyncKind) {
	case change.Full, change.Incremental, change.Resnapshot, change.Webhook:
	default:
		return nil, fmt.Errorf("diff: unknown sync kind %q", src.SyncKind)
	}
	src.System = change.System
	src.ExtractedAt = src.ExtractedAt.UTC().Truncate(time.Millisecond)
	src.EntityUpdatedAt = nil
	return &Run{
		d: d, st: st, desc: desc, entity: entity, src: src, prefix: src.Tenant + ":",
		seen: make(map[string]listed), conflicts: make(map[string]bool),
	}, nil
}

// Add diffs listed records (in normal form) against the state.
func (r *Run) Add(recs ...change.Record) error {
	if r.finished {
		return ErrFinished
	}
	for _, rec := range recs {
		if rec == nil || rec.Entity() != r.entity {
			return fmt.Errorf("diff: %s run got a %T", r.entity, rec)
		}
		if _, err := r.add(rec); err != nil {
			return err
		}
	}
	return nil
}

// AddOne is Add for one record, and reports whether it became an event; an unchanged record,
// a repeat and a conflict did not, and the run keeps nothing of them.
func (r *Run) AddOne(rec change.Record) (changed bool, err error) {
	if r.finished {
		return false, ErrFinished
	}
	if rec == nil || rec.Entity() != r.entity {
		return false, fmt.Errorf("diff: %s run got a %T", r.entity, rec)
	}
	return r.add(rec)
}

// listed is what a run remembers of a listed key.
type listed struct {
	short uint64 // first 8 bytes of the content hash
	event int    // index of its event in Run.events, or -1
}

// pending reports whether the key has an event that was not dropped as a conflict.
func (r *Run) pending(key string) bool {
	l, ok := r.seen[key]
	return ok && l.event >= 0 && r.event(l.event).Op != ""
}

// eventChunk is the number of events per chunk of Run.events: events are never copied as
// the list grows.
const eventChunk = 1024

func (r *Run) event(i int) *change.Event { return &r.events[i/eventChunk][i%eventChunk] }

func (r *Run) append(ev change.Event) int {
	if r.n%eventChunk == 0 {
		r.events = append(r.events, make([]change.Event, 0, eventChunk))
	}
	c := &r.events[len(r.events)-1]
	*c = append(*c, ev)
	r.n++
	r.kept++
	return r.n - 1
}

// Records are encoded straight into the free tail of an arena; the encoding of a record that
// becomes an event stays there as its AfterData, that of an unchanged record is overwritten
// by the next one.
const (
	arenaChunk = 256 << 10
	arenaMin   = 32 << 10 // a new chunk when less is free
)

// encode encodes rec into the arena's free tail and returns the encoding and its hash.
func (r *Run) encode(rec change.Record) ([]byte, change.Hash, error) {
	if cap(r.data)-len(r.data) < arenaMin {
		r.data = make([]byte, 0, arenaChunk)
	}
	return change.AppendRecordHash(r.data[len(r.data):len(r.data)], rec)
}

// keep makes an encoding from encode an event's: it stays in the arena (unless it outgrew the
// free tail and got a backing array of its own), with its capacity clipped.
func (r *Run) keep(data []byte) []byte {
	if len(data) <= cap(r.data)-len(r.data) {
		r.data = r.data[:len(r.data)+len(data)]
	}
	return data[:len(data):len(data)]
}

func (r *Run) add(rec change.Record) (changed bool, err error) {
	r.res.Listed++
	key := change.Key(r.src.Tenant, rec.RecordID())
	data, h, err := r.encode(rec)
	if err != nil {
		return false, err
	}
	short := binary.BigEndian.Uint64(h[:8])
	if prev, ok := r.seen[key]; ok {
		if prev.short != short && !r.conflicts[key] {
			r.conflicts[key] = true
			r.res.Conflicts++
			if prev.event >= 0 {
				r.event(prev.event).Op = "" // dropped
				r.kept--
			} else {
				r.res.Unchanged-- // the first copy was counted as unchanged
			}
		}
		return false, nil
	}
	r.seen[key] = listed{short: short, event: -1}

	e, inState := r.st.Get(r.entity, key)
	if inState {
		r.inState++
	}
	ev := change.Event{Entity: r.entity, Key: key, ID: rec.RecordID(), After: rec, Hash: h}
	switch {
	case change.SyncKind(r.src.SyncKind) == change.Resnapshot:
		ev.Op = change.Read
		ev.Version = r.st.LastVersion(r.entity, key) + 1
		if inState && e.Hash != h {
			before, err := e.Record(r.entity)
			if err != nil {
				return false, fmt.Errorf("diff: stored record of %s: %w", key, err)
			}
			ev.ChangedFields = change.ChangedFields(before, rec)
			r.d.policy.Scrub(before) // a field the policy drops is not lost
			r.noteLoss(key, before, rec, ev.ChangedFields)
		}
	case !inState:
		ev.Op = change.Create
		ev.Version = r.st.LastVersion(r.entity, key) + 1
	case e.Hash == h:
		r.res.Unchanged++
		return false, nil
	default:
		sdata, err := e.RecordData(r.entity)
		if err != nil {
			return false, fmt.Errorf("diff: stored record of %s: %w", key, err)
		}
		before, err := change.UnmarshalRecord(r.entity, sdata)
		if err != nil {
			return false, fmt.Errorf("diff: stored record of %s: %w", key, err)
		}
		ev.Op = change.Update
		ev.Version = e.Version + 1
		ev.ChangedFields = change.ChangedFields(before, rec)
		if r.d.policy.Scrub(before) {
			sdata = nil // the publisher encodes the scrubbed before image
		}
		ev.Before = before
		ev.BeforeData = sdata
		r.noteLoss(key, before, rec, ev.ChangedFields)
	}
	ev.AfterData = r.keep(data) // only an event's encoding stays in the arena
	r.seen[key] = listed{short: short, event: r.append(ev)}
	return true, nil
}

// Finish ends the run: it adds the deletes the scope allows, applies the mass-delete guard
// and the field-loss guard, and returns the events sorted by key. On a *MassDeleteError or a
// *FieldLossError it returns no events.
func (r *Run) Finish(scope Scope) (Result, error) {
	if r.finished {
		return Result{}, ErrFinished
	}
	r.finished = true
	deletes, err := r.deletesAndGuards(scope)
	if err != nil {
		return Result{}, err
	}

	// Sort pointers to the events by key, then copy each event once into its place: events
	// are large, and sorting them in place would move each of them many times.
	order := make([]*change.Event, 0, r.kept+len(deletes))
	for _, c := range r.events {
		for i := range c {
			if c[i].Op != "" {
				order = append(order, &c[i])
			}
		}
	}
	for i := range deletes {
		order = append(order, &deletes[i])
	}
	slices.SortFunc(order, func(a, b *change.Event) int { return strings.Compare(a.Key, b.Key) })
	events := make([]change.Event, len(order))
	ts := r.d.now().UTC().Truncate(time.Millisecond)
	for i := range events {
		ev := &events[i]
		*ev = *order[i]
		ev.TS = ts
		ev.Source = r.src
		if ev.After != nil {
			ev.Source.EntityUpdatedAt = ev.After.EntityUpdatedAt()
		}
		if ev.ChangedFields == nil {
			ev.ChangedFields = []string{}
		}
		ev.EventID = change.EventID(ev.Key, ev.Entity, ev.Version, ev.Op, ev.Hash)
	}
	r.res.Events = events
	r.events, r.seen, r.lost, r.data = nil, nil, nil, nil
	return r.res, nil
}

// deletesAndGuards returns the deletes the scope allows and applies the mass-delete guard
// and the field-loss guard. Both guards compare with the tenant's stored entries inside the
// scope that was listed (Scope.Contains, Scope.Listed), never with the whole entity: the
// state keeps every compensation month it has ever seen, and a share of all of them lets an
// empty listing of the current months through.
func (r *Run) deletesAndGuards(scope Scope) ([]change.Event, error) {
	deleting := scope.Complete && !scope.Filtered && change.SyncKind(r.src.SyncKind) != change.Incremental
	lost := r.lostPerFamily()
	guarded := !r.d.guardOff
	if scope.Filtered {
		return nil, r.fieldLossGuard(lost, r.inState)
	}
	if !deleting && len(lost) == 0 {
		return nil, nil
	}
	listedIn := scope.Listed
	if listedIn == nil {
		listedIn = scope.Contains
	}
	var (
		deletes []change.Event
		inScope int // stored entries inside Contains (GuardAll: all): the mass-delete guard's denominator
		inListd int // stored entries inside Listed: the field-loss guard's denominator
		err     error
	)
	r.st.Range(r.entity, func(key string, e state.Entry) bool {
		if !strings.HasPrefix(key, r.prefix) {
			return true
		}
		if scope.KeyIn != nil && !scope.KeyIn(key) {
			if deleting && scope.GuardAll {
				inScope++ // outside the scope, but the guard weighs against every record
			}
			return true
		}
		_, seen := r.seen[key]
		// A stored record is decoded when it may be deleted, or when a guard has to know
		// whether it lies inside the scope.
		decode := (deleting && !seen) ||
			(deleting && guarded && scope.Contains != nil) ||
			(len(lost) > 0 && listedIn != nil)
		var (
			before change.Record
			data   []byte
		)
		if decode {
			var derr error
			if data, derr = e.RecordData(r.entity); derr == nil {
				before, derr = change.UnmarshalRecord(r.entity, data)
			}
			if derr != nil {
				err = fmt.Errorf("diff: stored record of %s: %w", key, derr)
				return false
			}
		}
		if len(lost) > 0 && (listedIn == nil || listedIn(before)) {
			inListd++
		}
		if !deleting {
			return true
		}
		if scope.GuardAll {
			inScope++ // the listing knew every scope: all of them are the denominator
		}
		if scope.Contains != nil && (before == nil || !scope.Contains(before)) {
			return true // outside the scope, or (guard off) listed and not decoded
		}
		if !scope.GuardAll {
			inScope++
		}
		if !seen {
			if r.d.policy.Scrub(before) {
				data = nil // the publisher encodes the scrubbed before image
			}
			deletes = append(deletes, change.Event{
				Entity: r.entity, Key: key, ID: strings.TrimPrefix(key, r.prefix), Op: change.Delete,
				Before: before, BeforeData: data, Version: e.Version + 1,
			})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if n := len(deletes); n > 0 && guarded &&
		((inScope >= r.d.guardMin && float64(n) > r.d.ratio*float64(inScope)) || (n == inScope && inScope >= 2)) {
		return nil, &MassDeleteError{Entity: r.entity, Deletes: n, Count: inScope, Ratio: r.d.ratio}
	}
	if err := r.fieldLossGuard(lost, inListd); err != nil {
		return nil, err
	}
	return deletes, nil
}

// Diff runs Begin, Add and Finish over one listing.
func (d *Differ) Diff(st Reader, entity change.Entity, src change.Source, recs []change.Record, scope Scope) (Result, error) {
	r, err := d.Begin(st, entity, src)
	if err != nil {
		return Result{}, err
	}
	if err := r.Add(recs...); err != nil {
		return Result{}, err
	}
	return r.Finish(scope)
}
