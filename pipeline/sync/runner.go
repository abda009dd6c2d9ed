package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// Entities returns the entities a Runner may sync, in the order results list them: every
// entity with a descriptor (change.Entities). Config.Entities narrows a Runner's;
// Config.EmploymentDetails false leaves employments out of it.
func Entities() []change.Entity { return change.Entities() }

// Runner runs syncs of one tenant: it keeps the state (rebuilt from the output topics when it
// is unknown), extracts, diffs, publishes and records what happened. Runs do not overlap: a
// Run while another is in progress returns ErrRunning; a targeted run (FetchTargets) waiting
// for the runner runs inside the sync that holds it, between two of its snapshots, once that
// sync is done with the entities the targeted run covers.
type Runner struct {
	cfg      Config
	entities []change.Entity // the entities this runner syncs, in the order results list them
	guard    *authGuard
	ext      *extract.Extractor
	differ   *diff.Differ
	pub      *publish.Publisher
	metrics  *Metrics
	board    *statusBoard
	log      *slog.Logger
	readers  map[change.Entity]codec.Schema

	running gosync.Mutex
	// Guarded by running.
	store state.Store // nil until the first rebuild
	dirty bool        // the store may disagree with the topics: rebuild first
	hwm   time.Time   // largest person updated_at of the last complete persons listing
	// compsWhole is true once every compensation window of the look-back was listed and
	// published completely since the state was built: until then an incremental sync lists
	// them all, not only the current month, so that what an earlier run left unpublished in
	// a past month is found again without waiting for the next full sync.
	compsWhole  bool
	topicsReady bool
	// erased is the erasure list read before this run (or the last); enforced is the list
	// whose persons' keys were last tombstoned and removed from store (nil: none yet, since
	// the last rebuild). See refreshErasures.
	erased, enforced *erasure.List
	rolls            erasure.Rolls // erasure tombstones waiting for their second copy
	published        bool          // the current run handed events to the publisher
	// createdAt holds the created_at of the persons in the state after the last rebuild. Full
	// persons listings split their chains at its quantiles until one of them completes; from
	// then on the extractor splits where that listing's persons were.
	createdAt []time.Time
	// targets counts the targeted runs (FetchTargets) waiting for running or holding it: a
	// Run then waits for the runner instead of returning ErrRunning.
	targets atomic.Int32
	// jobs are the targeted runs waiting for the runner that a sync holding it may run in
	// between two snapshots (see yieldable); jobReady (capacity 1) is signalled when one is
	// added.
	jobsMu   gosync.Mutex
	jobs     []*targetJob
	jobReady chan struct{}

	mu      gosync.Mutex // guards hwmView and webhookMark for readers outside a run
	hwmView time.Time
	// webhookMark is the latest extracted_at of a targeted run's event on the topics (read by
	// the last rebuild) or published since: WebhookWatermark.
	webhookMark time.Time
}

// New validates cfg and builds a Runner. It does no I/O: schemas are registered, topics
// created and the state rebuilt by the first Run.
func New(cfg Config) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	guard := &authGuard{Source: cfg.Source}
	ext, err := extract.New(guard,
		extract.WithLookbackMonths(cfg.LookbackMonths),
		extract.WithEmploymentWorkers(cfg.EmploymentWorkers),
		extract.WithPersonChains(cfg.PersonChains),
		extract.WithCompensationWindows(cfg.CompensationSubWindows),
		extract.WithSkewMargin(cfg.SkewMargin),
		extract.WithClock(cfg.Now))
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	opts := []diff.Option{diff.WithDeleteGuard(cfg.DeleteGuardRatio, cfg.DeleteGuardMin), diff.WithClock(cfg.Now),
		diff.WithPolicy(cfg.FieldPolicy)}
	if cfg.DeleteGuardOverride {
		opts = append(opts, diff.WithoutDeleteGuard())
	}
	differ, err := diff.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	entities := slices.DeleteFunc(change.Entities(), func(e change.Entity) bool {
		return (e == change.Employments && !cfg.EmploymentDetails) || (cfg.Entities != nil && !slices.Contains(cfg.Entities, e))
	})
	pub, err := publish.New(publish.Config{TopicPrefix: cfg.TopicPrefix, Entities: entities,
		Encoder: cfg.Codec, Registry: cfg.Registry, Producer: cfg.Producer, BatchSize: cfg.PublishBatchSize})
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	readers := make(map[change.Entity]codec.Schema, len(entities))
	names := make([]string, 0, len(entities))
	for _, e := range entities {
		s, err := schemas.Parse(string(e))
		if err != nil {
			return nil, fmt.Errorf("sync: schema of %s: %w", e, err)
		}
		readers[e] = s
		names = append(names, string(e))
	}
	return &Runner{
		cfg: cfg, entities: entities, guard: guard, ext: ext, differ: differ, pub: pub,
		metrics:  NewMetrics(cfg.Registerer),
		board:    newStatusBoard(cfg.Tenant, names),
		log:      cfg.Logger.With("component", "sync", "tenant", cfg.Tenant),
		readers:  readers,
		dirty:    true,
		jobReady: make(chan struct{}, 1),
	}, nil
}

// Status returns the /status view: per entity the phase of its latest sync, counts and the last
// error. It never blocks on a running sync.
func (r *Runner) Status() Status { return r.board.snapshot() }

// HighWaterMark returns the largest person updated_at of the runner's last complete persons
// listing, capped at the start of that run (a person stamped in the future must not hide the
// changes after it); zero before the first one.
func (r *Runner) HighWaterMark() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hwmView
}

// StateTopics returns the topics a state rebuild reads: the topic of every entity the runner
// syncs, and the erasures topic (read after it).
func (r *Runner) StateTopics() []string {
	out := make([]string, 0, len(r.entities)+1)
	for _, e := range r.entities {
		out = append(out, r.Topic(e))
	}
	return append(out, erasure.Topic(r.cfg.TopicPrefix))
}

// Topic returns the topic of an entity.
func (r *Runner) Topic(e change.Entity) string { return publish.Topic(r.cfg.TopicPrefix, e) }

// MarkDirty makes the next run rebuild the state from the topics first.
func (r *Runner) MarkDirty() {
	r.running.Lock()
	defer r.running.Unlock()
	r.dirty = true
}

// RunOption adjusts one run.
type RunOption func(*runOptions)

type runOptions struct {
	personIDs     []string // a targeted run: extract.Request.PersonIDs
	entities      []change.Entity
	employmentsOf []string
	goneOnly      bool
	// nested is a targeted run inside a scheduled sync that yielded the runner to it
	// (runJobs): it uses the sync's schemas, topics, state and erasure list, and leaves the
	// erasures to the sync's end.
	nested bool
}

// WithGoneEmploymentsOnly makes a run read no employment listing of the persons it lists
// (only those WithEmploymentsOf names): the employments of a person gone from its complete,
// unfiltered persons listing are still deleted, without a request, and everyone else's are
// left as they are. For scheduled syncs while a rolling refresh reads the employments.
func WithGoneEmploymentsOnly() RunOption {
	return func(o *runOptions) { o.goneOnly = true }
}

// WithEmploymentsOf makes a run list the employments of the given persons besides those of the
// persons it lists; with WithEntities(change.Employments) alone it lists only theirs, without a
// persons listing. Each person's employment listing is its own scope: a run of kind Full
// deletes an employment of one of them that their completed listing no longer returns, and
// nothing of anyone else. This is the seam for a rolling refresh of employments.
func WithEmploymentsOf(personIDs ...string) RunOption {
	return func(o *runOptions) { o.employmentsOf = append(o.employmentsOf, personIDs...) }
}

// WithEntities restricts a run to the given entities (persons, compensations): only they are
// listed, diffed and published, and only they appear in the Result and change in /status. The
// other entities' state and topics are left as they are. Without it, or with no entity, a run
// covers every entity.
func WithEntities(es ...change.Entity) RunOption {
	return func(o *runOptions) { o.entities = append(o.entities, es...) }
}

// selected returns the entities of entities a run covers, in their order, or an error naming
// an unknown one.
func (o runOptions) selected(entities []change.Entity) ([]change.Entity, error) {
	if len(o.entities) == 0 {
		return entities, nil
	}
	for _, e := range o.entities {
		if _, err := change.Describe(e); err != nil {
			return nil, err
		}
		if !slices.Contains(entities, e) {
			return nil, fmt.Errorf("%w %q: the runner does not sync it (SYNC_ENTITIES, SYNC_EMPLOYMENT_DETAILS or the tenant's entities)", ErrUnknownEntity, e)
		}
	}
	var out []change.Entity
	for _, e := range entities {
		if slices.Contains(o.entities, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Run runs one sync of the given kind, of every entity or of those WithEntities names. It
// returns the Result in every case; the error is non-nil when the outcome is Failed (ctx.Err()
// when ctx was cancelled, a *diff.MassDeleteError or *diff.FieldLossError when a guard
// withheld an entity, an error matching personio.ErrAuth when Personio refused the
// credential). A Partial outcome is not an
// error: everything read was published, only the deletes of the failed scopes were withheld.
func (r *Runner) Run(ctx context.Context, kind Kind, opts ...RunOption) (Result, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return Result{}, fmt.Errorf("sync: %w", err)
	}
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	only, err := o.selected(r.entities)
	if err != nil {
		return Result{}, fmt.Errorf("sync: %w", err)
	}
	if !r.running.TryLock() {
		// A targeted run takes a moment: wait for it rather than fail a scheduled sync.
		if r.targets.Load() == 0 {
			return Result{}, ErrRunning
		}
		if err := r.lock(ctx); err != nil {
			return Result{}, err
		}
	}
	defer r.running.Unlock()
	return r.runLocked(ctx, kind, only, o)
}

// runLocked is Run once the runner is held.
func (r *Runner) runLocked(ctx context.Context, kind Kind, only []change.Entity, o runOptions) (Result, error) {
	start := r.cfg.Now()
	res := Result{SyncID: newSyncID(start), Kind: kind, Started: start}
	for _, e := range only {
		res.Entities = append(res.Entities, EntityResult{Entity: string(e), Changes: map[string]int{}})
	}
	if kind != Webhook { // /status shows the syncs; targeted runs are in the metrics
		r.board.begin(res)
	}

	if !o.nested {
		r.published = false
	}
	err := r.run(ctx, &res, only, o)
	// A nested run leaves the erasures to the sync it ran inside: r.published tells that sync
	// to read them again once it ends.
	if !o.nested {
		if eerr := r.enforceAfterRun(ctx); eerr != nil && err == nil {
			err = eerr
		}
	}

	res.Ended = r.cfg.Now()
	res.Duration = res.Ended.Sub(res.Started)
	res.Outcome = Complete
	for i := range res.Entities {
		if res.Entities[i].Outcome == "" { // never finished
			res.Entities[i].Outcome = Failed
		}
		res.Outcome = worse(res.Outcome, res.Entities[i].Outcome)
	}
	var details []ErrorInfo
	if err != nil {
		res.Outcome = Failed
		info := Describe(err)
		res.Errors = append(res.Errors, info.String())
		res.ErrorDetails = append(res.ErrorDetails, info)
		details = append(details, info)
	}
	for _, er := range res.Entities {
		res.Errors = append(res.Errors, er.Errors...)
		res.ErrorDetails = append(res.ErrorDetails, er.ErrorDetails...)
	}
	if err == nil && res.Outcome == Failed {
		err, details = entityErrors(res)
	}
	if err != nil {
		err = &RunError{Details: details, err: err}
	}
	r.record(res, err)
	return res, err
}

// run does the work of Run; res is filled in as entities finish.
func (r *Runner) run(ctx context.Context, res *Result, only []change.Entity, o runOptions) error {
	if !o.nested { // a targeted run inside a sync uses the sync's schemas, topics and state
		if err := r.prepare(ctx, res); err != nil {
			return err
		}
	}

	req := extract.Request{Entities: only, EmploymentsOf: o.employmentsOf, GoneEmploymentsOnly: o.goneOnly,
		PersonIDs: o.personIDs}
	if res.Kind == Incremental {
		// The look-back months wait for the next full sync, once they were published whole.
		req.CurrentMonthOnly = r.compsWhole
		if !r.hwm.IsZero() {
			req.PersonsUpdatedSince = r.hwm
		}
	}
	if req.PersonsUpdatedSince.IsZero() && req.PersonIDs == nil {
		req.PersonsCreatedAt = r.createdAt
	}
	if slices.Contains(only, change.Compensations) && !req.CurrentMonthOnly {
		r.compsWhole = false // until this listing of every window is published whole
	}
	expected := map[change.Entity]int{}
	for _, scope := range r.ext.Scopes(req) {
		e, _, _ := strings.Cut(scope, ":")
		expected[change.Entity(e)]++
	}

	// A refused credential stops every listing: the others would only be refused too.
	ectx, cancel := context.WithCancelCause(ctx)
	disarm := r.guard.arm(cancel)
	snaps := r.ext.Extract(ectx, req)
	defer func() {
		cancel(nil)
		for range snaps { // drain: the extractor stops and closes the channel
		}
		disarm()
	}()

	src := change.Source{Tenant: r.cfg.Tenant, SyncID: res.SyncID, SyncKind: string(res.Kind), ExtractedAt: res.Started}
	runs := map[change.Entity]*entityRun{}
	closed := map[change.Entity]bool{} // entities whose run finished: published, in the state
	for {
		var jobs <-chan struct{} // nil: targeted runs wait
		if res.Kind != Webhook && r.yieldable(only, closed) {
			jobs = r.jobReady
		}
		var snap extract.Snapshot
		select {
		case s, ok := <-snaps:
			if !ok {
				return r.runEnd(ctx, ectx)
			}
			snap = s
		case <-jobs:
			r.runJobs()
			continue
		}
		er := runs[snap.Entity]
		if er == nil {
			dr, err := r.differ.Begin(r.store, snap.Entity, src)
			if err != nil {
				return fmt.Errorf("sync: %w", err)
			}
			desc, err := change.Describe(snap.Entity)
			if err != nil {
				return fmt.Errorf("sync: %w", err)
			}
			er = &entityRun{desc: desc, entity: snap.Entity, run: dr, res: res.entity(snap.Entity), complete: true, listed: res.Started,
				tenant: r.cfg.Tenant, erased: r.erased, everyWindow: !req.CurrentMonthOnly, targeted: res.Kind == Webhook}
			er.norm.UsePolicy(r.cfg.FieldPolicy)
			runs[snap.Entity] = er
		}
		if pr := runs[change.Persons]; snap.Rest && pr != nil && (pr.invalid || !pr.complete) {
			// The persons listing the employments snapshot learnt who is gone from deletes
			// nobody (an invalid item, an incomplete scope): nor are the gone persons'
			// employments deleted, so that a person and their employments go together.
			snap.Rest = false
		}
		er.add(snap, r.metrics)
		if er.received < expected[snap.Entity] {
			continue
		}
		err := r.finish(ectx, er, res.Kind)
		closed[snap.Entity] = true
		if err != nil {
			// A refused credential cancelled the run: that, not the cancellation it caused, is
			// why this entity could not finish.
			if cause := context.Cause(ectx); ctx.Err() == nil && errors.Is(cause, personio.ErrAuth) {
				return credentialError(cause)
			}
			return err
		}
	}
}

// runEnd is what a run whose extraction ended returns: ctx's error, a refused credential, or
// nil.
func (r *Runner) runEnd(ctx, ectx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cause := context.Cause(ectx); errors.Is(cause, personio.ErrAuth) {
		return credentialError(cause)
	}
	return nil
}

// credentialError is the error of a run stopped by a refused credential. It names the
// settings to check; it never holds the secret (personio's errors do not).
func credentialError(cause error) error {
	if strings.Contains(cause.Error(), "PERSONIO_CLIENT_SECRET") {
		return fmt.Errorf("sync: %w: %w", ErrCredential, cause)
	}
	return fmt.Errorf("sync: %w (check PERSONIO_CLIENT_ID, PERSONIO_CLIENT_SECRET and the credential's scopes): %w", ErrCredential, cause)
}

// authGuard is the Source the extractor reads through: the first listing that fails with
// personio.ErrAuth cancels the run's extraction, so that a wrong secret fails the run at once
// instead of after every listing was refused on its own.
type authGuard struct {
	extract.Source

	mu      gosync.Mutex
	next    int
	cancels map[int]context.CancelCauseFunc // of the runs in progress (a targeted run inside a sync: two)
}

// arm makes a refused credential cancel the extraction of a run until disarm is called. A
// credential refused to one run is refused to every other: each armed run is cancelled.
func (g *authGuard) arm(cancel context.CancelCauseFunc) (disarm func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cancels == nil {
		g.cancels = map[int]context.CancelCauseFunc{}
	}
	id := g.next
	g.next++
	g.cancels[id] = cancel
	return func() {
		g.mu.Lock()
		delete(g.cancels, id)
		g.mu.Unlock()
	}
}

func (g *authGuard) check(err error) error {
	if err != nil && errors.Is(err, personio.ErrAuth) {
		g.mu.Lock()
		for _, cancel := range g.cancels {
			cancel(err)
		}
		g.mu.Unlock()
	}
	return err
}

func (g *authGuard) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	return g.check(g.Source.ListPersons(ctx, f, fn))
}

func (g *authGuard) ListEmployments(ctx context.Context, personID string, f personio.EmploymentFilter, fn func([]personio.Employment) error) error {
	return g.check(g.Source.ListEmployments(ctx, personID, f, fn))
}

// GetPerson reads one person through the source's extract.PersonGetter; a source without
// one confirms nothing (an error that is not a 404).
func (g *authGuard) GetPerson(ctx context.Context, id string) (personio.Person, error) {
	getter, ok := g.Source.(extract.PersonGetter)
	if !ok {
		return personio.Person{}, errNoGetter
	}
	p, err := getter.GetPerson(ctx, id)
	return p, g.check(err)
}

func (g *authGuard) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	return g.check(g.Source.ListCompensations(ctx, f, fn))
}

// prepare registers the schemas (checking their ids), creates the topics and rebuilds the state
// when needed.
func (r *Runner) prepare(ctx context.Context, res *Result) error {
	if err := r.checkSchemaIDs(ctx); err != nil {
		return err
	}
	if !r.topicsReady && r.cfg.Admin != nil {
		specs := make([]kafka.TopicSpec, 0, len(r.entities)+1)
		for _, e := range r.entities {
			s := r.cfg.TopicSpec
			s.Name = r.Topic(e)
			specs = append(specs, s)
		}
		specs = append(specs, erasure.TopicSpec(r.cfg.TopicSpec, r.cfg.TopicPrefix))
		if err := r.cfg.Admin.EnsureTopics(ctx, specs); err != nil {
			return atStage(CodeKafkaTopics, "the output topics could not be created or checked",
				fmt.Errorf("sync: create topics: %w", err))
		}
		r.topicsReady = true
	}
	if r.store != nil && !r.dirty {
		return r.refreshErasures(ctx)
	}
	start := time.Now()
	store, createdAt, err := r.rebuildWithRetry(ctx)
	r.metrics.StateRebuildSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		r.metrics.StateRebuilds.WithLabelValues("error").Inc()
		return atStage(CodeStateRebuild, "the state could not be rebuilt from the output topics", err)
	}
	r.metrics.StateRebuilds.WithLabelValues("ok").Inc()
	// The high-water mark is not taken from the rebuilt state: the newest person on the topics
	// may come from a listing that was published only in part (a crash or a broker failure
	// between two batches or partitions), and an incremental sync starting from it would skip
	// the older changes that never reached Kafka. A runner keeps the mark of its own last
	// complete persons listing; a new one has none, so its first incremental sync lists every
	// person.
	r.store, r.createdAt, r.dirty, res.Rebuilt = store, createdAt, false, true
	r.compsWhole = false // the topics may lack what an earlier process left unpublished
	r.enforced = nil     // the topics may hold keys of any erased person
	return r.refreshErasures(ctx)
}

// refreshErasures reads the erasures topic again and tombstones the live keys of every person
// erased since the last time (after a rebuild: of every erased person), removing them from the
// state. The run then leaves every listed record of an erased person out (entityRun.add), so a
// person erased before the run's start is neither published again nor deleted ("d", whose
// before image is the data to erase).
func (r *Runner) refreshErasures(ctx context.Context) error {
	list, err := erasure.Read(ctx, r.cfg.Reader, erasure.Topic(r.cfg.TopicPrefix))
	if err != nil {
		return atStage(CodeErasure, "the erasures could not be read", fmt.Errorf("sync: %w", err))
	}
	r.erased = list
	target := erasure.Target{Topic: r.Topic, Producer: r.cfg.Producer, Now: r.cfg.Now}
	if r.cfg.SegmentRoll > 0 {
		target.Rolls = &r.rolls
	}
	n, err := erasure.Enforce(ctx, target, r.store, r.entities, list.Since(r.enforced))
	if err != nil {
		return atStage(CodeErasure, "the keys of erased persons could not be tombstoned", fmt.Errorf("sync: %w", err))
	}
	for e, c := range n {
		r.metrics.ErasedKeys.WithLabelValues(string(e)).Add(float64(c))
	}
	r.enforced = list
	if r.cfg.SegmentRoll == 0 {
		return nil
	}
	live := func(e change.Entity, key string) bool { _, ok := r.store.Get(e, key); return ok }
	rolls := r.rolls.Take(r.cfg.Now(), r.cfg.SegmentRoll+r.cfg.SegmentRoll/10, r.Topic, live)
	if len(rolls) == 0 {
		return nil
	}
	if err := r.cfg.Producer.Publish(ctx, rolls); err != nil {
		r.rolls.Requeue(rolls) // due again at the next sync
		return atStage(CodeErasure, "the second tombstones of erased keys could not be written", fmt.Errorf("sync: %w", err))
	}
	return nil
}

// enforceAfterRun reads the erasures again once a run published, and tombstones what the run
// published of a person erased while it ran: an erasure the erase command wrote after the run
// read the list is either seen by the command's own state rebuild (which then tombstones the
// run's events) or written before this read (which then sees it). Either way the last record
// of every such key is a tombstone when the run returns. A run that published no event has
// nothing of the kind: the erase command tombstoned the keys on the topics, and the next run
// reads the list again anyway.
func (r *Runner) enforceAfterRun(ctx context.Context) error {
	if r.store == nil || r.dirty || ctx.Err() != nil {
		return nil // the next run rebuilds the state and enforces every erasure
	}
	if !r.published {
		return nil
	}
	return r.refreshErasures(ctx)
}

// checkSchemaIDs registers the schemas again before a sync and before each publish. The registry
// client confirms every id it answers (GET /schemas/ids/{id} must name the schema) and registers
// the schema again when the registry lost it or gave the id to another schema, so nothing is
// published under an id that names another schema: when no id names ours the check fails with
// an error matching codec.ErrSchemaIDMismatch, and the run publishes nothing more.
func (r *Runner) checkSchemaIDs(ctx context.Context) error {
	if err := r.pub.Register(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// Rebuild retries: a topic created a moment ago may not have a partition leader yet.
const (
	rebuildAttempts = 6
	rebuildBackoff  = 250 * time.Millisecond
)

// rebuildWithRetry rebuilds the state, retrying errors Kafka calls temporary.
func (r *Runner) rebuildWithRetry(ctx context.Context) (state.Store, []time.Time, error) {
	backoff := rebuildBackoff
	for attempt := 1; ; attempt++ {
		store, createdAt, err := r.rebuild(ctx)
		if err == nil || attempt == rebuildAttempts || !kafka.Retryable(err) {
			return store, createdAt, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		backoff *= 2
	}
}

// rebuild reads every output topic to its end into a new store, the topics in parallel. It
// also returns the created_at of the tenant's persons in the new store, noted while the
// persons topic is decoded, so that the state is not decoded a second time for them.
func (r *Runner) rebuild(ctx context.Context) (state.Store, []time.Time, error) {
	store := r.cfg.NewStore()
	created := &createdAtIndex{byKey: map[string]int64{}}
	g, gctx := errgroup.WithContext(ctx)
	for _, e := range r.entities {
		g.Go(func() error {
			src := kafka.TopicReplay{Reader: r.cfg.Reader, Topic: r.Topic(e)}
			if r.cfg.SegmentRoll > 0 {
				src.Note = func(rec kafka.Record) { r.rolls.NoteRecord(e, rec) }
			}
			dec := r.decoder(gctx, e, nil)
			if e == change.Persons {
				dec = r.decoder(gctx, e, created)
			}
			if _, err := state.Rebuild(gctx, store, e, src, dec); err != nil {
				return &locatedError{entity: string(e), scope: src.Topic, err: fmt.Errorf("sync: %w", err)}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return store, created.live(store, r.cfg.Tenant+":"), nil
}

// decoder decodes the records of entity e's topic. When created is not nil, it notes the
// created_at of each person record there.
func (r *Runner) decoder(ctx context.Context, e change.Entity, created *createdAtIndex) state.Decoder {
	reader := r.readers[e]
	var last change.Envelope // the envelope of the record being decoded; under created.mu
	dec := state.EnvelopeDecoder(func(value []byte) (any, error) {
		env, err := change.NewEnvelope(e)
		if err != nil {
			return nil, err
		}
		if err := r.cfg.Codec.Decode(ctx, value, reader, env); err != nil {
			return nil, err
		}
		if src, ok := sourceOf(env); ok && src.SyncKind == string(Webhook) {
			r.noteWebhookMark(src.ExtractedAt)
		}
		last = env
		return env, nil
	})
	if created == nil {
		return dec
	}
	return func(key string, value []byte) (state.Entry, error) {
		created.mu.Lock()
		defer created.mu.Unlock()
		last = nil
		entry, err := dec(key, value)
		if err != nil {
			return entry, err
		}
		if p, ok := last.(*change.PersonChange); ok && entry.Data != nil && p.After != nil && p.After.CreatedAt != nil {
			created.byKey[key] = p.After.CreatedAt.UnixNano()
		} else {
			delete(created.byKey, key)
		}
		return entry, nil
	}
}

// createdAtIndex is the created_at of every person key seen during a rebuild, as of its last
// event: Unix nanoseconds rather than records, so that it costs little next to the state.
type createdAtIndex struct {
	mu    gosync.Mutex
	byKey map[string]int64
}

// live returns the created_at of the persons with the key prefix that are live in store
// (a tombstone or a "d" event removed the others).
func (c *createdAtIndex) live(store state.Store, prefix string) []time.Time {
	out := make([]time.Time, 0, len(c.byKey))
	store.Range(change.Persons, func(key string, _ state.Entry) bool {
		if ns, ok := c.byKey[key]; ok && strings.HasPrefix(key, prefix) {
			out = append(out, time.Unix(0, ns).UTC())
		}
		return true
	})
	return out
}

func (r *Runner) setHWM(t time.Time) {
	if !t.After(r.hwm) {
		return
	}
	r.hwm = t
	r.mu.Lock()
	r.hwmView = t
	r.mu.Unlock()
}

// finish ends an entity's diff once all its scopes arrived and publishes its events. It returns
// an error only when the run must stop (a publish failure).
func (r *Runner) finish(ctx context.Context, er *entityRun, kind Kind) error {
	scope := er.scope()
	if kind == Resnapshot && er.desc.Scope != nil {
		if err := r.addUnlisted(er, scope); err != nil {
			er.fail(err)
			return nil
		}
	}
	result, err := er.run.Finish(scope)
	if err != nil {
		var mde *diff.MassDeleteError
		if errors.As(err, &mde) {
			er.res.GuardTripped, er.res.Guard = true, GuardMassDelete
			r.metrics.DeleteGuardTrips.WithLabelValues(string(er.entity)).Inc()
			// Run returns the error; the caller logs it.
			r.log.Debug("mass-delete guard withheld every change of an entity",
				"entity", er.entity, "deletes", mde.Deletes, "of", mde.Count, "ratio", mde.Ratio)
		}
		if fle := (*diff.FieldLossError)(nil); errors.As(err, &fle) {
			er.res.GuardTripped, er.res.Guard = true, GuardFieldLoss
			r.metrics.FieldLossGuardTrips.WithLabelValues(string(er.entity)).Inc()
			r.log.Debug("field-loss guard withheld every change of an entity",
				"entity", er.entity, "field", fle.Field, "lost", fle.Lost, "of", fle.Count, "ratio", fle.Ratio)
		}
		er.fail(err)
		return nil
	}
	if result.Conflicts > 0 {
		r.metrics.ItemsSkipped.WithLabelValues(string(er.entity), "conflict").Add(float64(result.Conflicts))
		er.partial(&conflictError{entity: er.entity, n: result.Conflicts})
	}

	if len(result.Events) > 0 {
		if err := r.checkSchemaIDs(ctx); err != nil { // the listing may have taken minutes
			er.fail(err)
			return fmt.Errorf("sync: %s: %w", er.entity, err)
		}
		r.published = true
	}
	counts, err := r.pub.Publish(ctx, r.store, result.Events)
	// Publishing put the records as they are; compress them now that Kafka has the events.
	r.store.Compact(er.entity)
	for op, n := range counts {
		er.res.Changes[string(op)] += n
		r.metrics.Changes.WithLabelValues(string(er.entity), string(op)).Add(float64(n))
	}
	var skip *publish.SkipError
	if errors.As(err, &skip) {
		// Events too large for their topic were left out: reported, never deleted, their keys
		// keep their state, so the next sync tries them again. The rest was published.
		er.res.Skipped = append(er.res.Skipped, skip.Skipped...)
		for _, s := range skip.Skipped {
			r.metrics.EventsSkipped.WithLabelValues(string(s.Entity), s.Reason).Inc()
		}
		if _, alone := err.(*publish.SkipError); alone {
			er.partial(err)
			err = nil
		}
	}
	if err != nil {
		if errors.Is(err, publish.ErrStateUnknown) {
			r.dirty = true
		}
		er.fail(err)
		return &locatedError{entity: string(er.entity), err: fmt.Errorf("sync: %s: %w", er.entity, err)}
	}
	if er.res.Outcome == "" {
		er.res.Outcome = Complete
	}
	if er.entity == change.Compensations && er.res.Outcome == Complete && er.everyWindow {
		r.compsWhole = true
	}
	if len(result.Events) > 0 && kind == Webhook {
		r.noteWebhookMark(result.Events[0].Source.ExtractedAt)
	}
	// A targeted run lists a few persons by id: it says nothing of the others' changes.
	if er.entity == change.Persons && er.res.Outcome == Complete && kind != Webhook {
		hwm := er.highWaterMark()
		if er.maxUpdated.After(er.listed.Add(r.cfg.SkewMargin)) {
			r.log.Warn("a person's updated_at lies in the future; the high-water mark stays at the start of the listing",
				"listing_started", er.listed, "max_updated_at", er.maxUpdated)
		}
		r.setHWM(hwm)
		if !er.filtered {
			r.createdAt = nil // the extractor learnt the boundaries from this listing
		}
	}
	return nil
}

// addUnlisted adds, for a re-snapshot, the stored records of the tenant outside every scope
// the run listed (compensations of months before the look-back), so that every current record
// gets its "r" event. A record inside the scope is left to the listing: listed, or deleted.
func (r *Runner) addUnlisted(er *entityRun, scope diff.Scope) error {
	prefix := r.cfg.Tenant + ":"
	var (
		recs []change.Record
		err  error
	)
	r.store.Range(er.entity, func(key string, e state.Entry) bool {
		if !strings.HasPrefix(key, prefix) {
			return true
		}
		rec, derr := e.Record(er.entity)
		if derr != nil {
			err = derr
			return false
		}
		if !scope.Listed(rec) && (scope.Contains == nil || !scope.Contains(rec)) {
			recs = append(recs, rec)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("sync: stored %s record: %w", er.entity, err)
	}
	return er.run.Add(recs...)
}

// record publishes a finished run to metrics, status and log.
func (r *Runner) record(res Result, runErr error) {
	kind := string(res.Kind)
	r.metrics.SyncRuns.WithLabelValues(kind, string(res.Outcome)).Inc()
	r.metrics.SyncDuration.WithLabelValues(kind).Observe(res.Duration.Seconds())
	res.HighWaterMark = r.hwm
	live := map[string]int{}
	if r.store != nil {
		for _, e := range r.entities {
			live[string(e)] = r.store.Len(e)
			r.metrics.StateEntities.WithLabelValues(string(e)).Set(float64(live[string(e)]))
		}
	}
	for _, er := range res.Entities {
		if er.Outcome == Complete && res.Kind != Webhook { // a targeted run syncs a few persons
			r.metrics.LastSuccessfulSync.WithLabelValues(er.Entity).Set(float64(res.Ended.UnixMilli()) / 1000)
		}
	}
	if res.Kind != Webhook {
		r.board.end(res, live, runErr)
	}
	attrs := []any{"sync_id", res.SyncID, "kind", kind, "outcome", res.Outcome,
		"published", res.Published(), "duration", res.Duration.Round(time.Millisecond), "state_rebuilt", res.Rebuilt}
	for _, er := range res.Entities {
		attrs = append(attrs, slog.Group(er.Entity, "outcome", er.Outcome, "extracted", er.Extracted, "changes", er.Changes))
	}
	r.log.Debug("sync finished", attrs...) // the caller logs the outcome once per run
}

// entityErrors returns the last error of every failed entity, joined, and their descriptions.
func entityErrors(res Result) (error, []ErrorInfo) {
	var (
		errs    []error
		details []ErrorInfo
	)
	for _, er := range res.Entities {
		if er.Outcome != Failed {
			continue
		}
		if n := len(er.errs); n > 0 {
			errs = append(errs, er.errs[n-1])
			details = append(details, er.ErrorDetails[n-1])
		} else {
			errs = append(errs, fmt.Errorf("%s: failed", er.Entity))
			details = append(details, ErrorInfo{Code: CodeUnclassified, Entity: er.Entity, Message: "the sync failed"})
		}
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return fmt.Errorf("sync: %w", errors.Join(errs...)), details
}

// newSyncID returns a time-ordered, unique id: the UTC start time and 8 random hex digits.
func newSyncID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}
