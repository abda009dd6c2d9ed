package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// Owner runs the tenants this instance owns. The group calls it from one goroutine at a time.
type Owner interface {
	// Own starts syncing the named tenants. ctx is Run's: it ends when Run ends. An error means
	// the tenants could not be taken (e.g. the fence was not acquired): the group releases them
	// again and retries a few seconds later. Own runs inside the group's assignment callback:
	// it should start the tenants and return, leaving long work (the state rebuild) to them;
	// until it returns this member cannot hand partitions on in the next rebalance.
	Own(ctx context.Context, tenants []string) error
	// Release stops the named tenants and returns only once none of them syncs or publishes
	// any more: the group hands their partitions to another member only after it returned.
	// Releasing a tenant that is not running does nothing.
	Release(tenants []string)
}

// Admin creates the work topic and reads its partition count; *kafka.Client is one.
type Admin interface {
	EnsureTopics(ctx context.Context, specs []kafka.TopicSpec) error
	Partitions(ctx context.Context, topic string) (int, error)
}

// Defaults of Options.
const (
	// DefaultPartitions is the partition count of a work topic the group creates: the most
	// members that can hold tenants at once, and the unit in which tenants move.
	DefaultPartitions = 64
	// DefaultSessionTimeout is how long the coordinator waits for a silent member before it
	// hands its tenants on (Kafka's session.timeout.ms). See the package documentation.
	DefaultSessionTimeout = 30 * time.Second
	// DefaultRebalanceTimeout is how long members may take to rejoin a rebalance (Kafka's
	// rebalance.timeout.ms, and Kafka Connect's default).
	DefaultRebalanceTimeout = 60 * time.Second
	// maxPartitions bounds Options.Partitions.
	maxPartitions = 10000
	// ownRetry is how long after a failed Own the tenants are tried again.
	ownRetry = 5 * time.Second
	// leaveWithin bounds how long shutdown waits for the coordinator to confirm the leave.
	leaveWithin = 10 * time.Second
	// restartPause is the pause between a member given up (lease expired) and the next one.
	restartPause = time.Second
)

// Options configure a Group.
type Options struct {
	// Kafka is how to reach the brokers (brokers, client id, TLS, SASL): the same settings as
	// the rest of the service.
	Kafka kafka.Config
	// GroupID names the consumer group: every instance of one deployment uses the same
	// (required).
	GroupID string
	// Topic is the work topic whose partitions the tenants hash onto, <prefix>.work (required).
	Topic string
	// Partitions is the partition count of a work topic the group creates (default
	// DefaultPartitions); an existing topic's count is used as it is.
	Partitions int
	// ReplicationFactor of a created work topic; 0 or -1 uses the broker's default.
	ReplicationFactor int
	// SessionTimeout is Kafka's session.timeout.ms (default DefaultSessionTimeout; the broker
	// accepts group.min.session.timeout.ms to group.max.session.timeout.ms, 6 s to 30 min by
	// default). The member's own lease is 2/3 of it.
	SessionTimeout time.Duration
	// RebalanceTimeout is Kafka's rebalance.timeout.ms (default DefaultRebalanceTimeout).
	RebalanceTimeout time.Duration
	// HeartbeatInterval is Kafka's heartbeat.interval.ms (default SessionTimeout/10; at most
	// SessionTimeout/3).
	HeartbeatInterval time.Duration
	// Tenants are the configured tenant names; SetTenants changes them.
	Tenants []string
	// Owner runs the tenants (required).
	Owner Owner
	// Admin creates the work topic and reads its partition count (required).
	Admin Admin
	// Registerer receives the metrics (default: none are exported).
	Registerer prometheus.Registerer
	// Logger receives start, stop and ownership changes (default: discarded).
	Logger *slog.Logger

	// dial, when set, makes every connection (tests cut the network with it).
	dial func(ctx context.Context, network, host string) (net.Conn, error)
}

func (o *Options) setDefaults() {
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.RebalanceTimeout == 0 {
		o.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = o.SessionTimeout / 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate returns every problem at once.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkName := func(what, v string) {
		switch {
		case v == "":
			bad("%s is required", what)
		case strings.IndexFunc(v, unicode.IsControl) >= 0 || strings.ContainsRune(v, ' '):
			bad("%s %q must not contain spaces or control characters", what, v)
		}
	}
	checkName("group id", o.GroupID)
	checkName("work topic", o.Topic)
	if o.Partitions < 1 || o.Partitions > maxPartitions {
		bad("work topic partitions %d must be between 1 and %d", o.Partitions, maxPartitions)
	}
	if o.SessionTimeout < time.Second {
		bad("session timeout %v must be at least 1s", o.SessionTimeout)
	}
	if o.RebalanceTimeout < time.Second {
		bad("rebalance timeout %v must be at least 1s", o.RebalanceTimeout)
	}
	if o.HeartbeatInterval <= 0 || o.HeartbeatInterval > o.SessionTimeout/3 {
		bad("heartbeat interval %v must be greater than 0 and at most a third of the session timeout %v", o.HeartbeatInterval, o.SessionTimeout)
	}
	if o.Owner == nil {
		bad("an Owner is required")
	}
	if o.Admin == nil {
		bad("an Admin is required")
	}
	if _, err := normalize(o.Tenants); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

// normalize returns the names sorted, refusing empty names and duplicates.
func normalize(names []string) ([]string, error) {
	out := slices.Clone(names)
	slices.Sort(out)
	for i, n := range out {
		if n == "" {
			return nil, errors.New("tenant names must not be empty")
		}
		if i > 0 && out[i-1] == n {
			return nil, fmt.Errorf("tenant %q is listed twice", n)
		}
	}
	return out, nil
}

// Partition returns the work topic partition that tenant hashes onto among partitions: the Java
// client's murmur2 placement of the name, so the mapping is the same in every instance and in
// any tool that places the name as a record key.
func Partition(tenant string, partitions int) int32 {
	return int32(kafka.Partition([]byte(tenant), partitions))
}

// Group is this instance's membership in the consumer group that shares the tenants out. Make
// it with New, start it with Run; SetTenants and Status may be called at any time.
type Group struct {
	opts  Options
	kopts []kgo.Opt
	log   *slog.Logger
	m     *metrics

	// opMu serialises every change of ownership: the group's callbacks, SetTenants, the lease
	// watcher and shutdown. Owner calls happen under it, so they never overlap.
	opMu sync.Mutex

	// mu guards the fields below; it is never held across an Owner call.
	mu         sync.Mutex
	ctx        context.Context // Run's, for Own
	tenants    []string        // configured, sorted
	partitions int             // of the work topic, read once per Run
	sess       *session        // the current member; nil outside Run
	owned      map[string]bool // Own returned nil, not yet released
	retryAt    time.Time       // when tenants whose Own failed are tried again
	stopping   bool            // Run is ending: own nothing
}

// session is one member of the group: one kgo client from join to leave. A member whose lease
// ran out is given up and a new one joins.
type session struct {
	lease    *lease
	assigned map[int32]bool
	memberID string
	gen      int32
	expired  bool // its lease ran out: it owns nothing any more
}

// New validates opts and returns a Group. It makes no connection.
func New(opts Options) (*Group, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	kopts, err := opts.Kafka.FranzOpts()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if opts.dial != nil {
		kopts = append(kopts, kgo.Dialer(opts.dial))
	}
	tenants, _ := normalize(opts.Tenants)
	return &Group{
		opts:    opts,
		kopts:   kopts,
		log:     opts.Logger.With("component", "group", "group_id", opts.GroupID),
		m:       newMetrics(opts.Registerer),
		tenants: tenants,
		owned:   map[string]bool{},
	}, nil
}

// SetTenants replaces the configured tenant names (a reloaded tenants file) and re-derives
// what this instance owns on the partitions it holds now: removed tenants are released,
// added ones that hash onto its partitions are taken. It must not be called from Owner.Own
// or Owner.Release.
func (g *Group) SetTenants(names []string) error {
	tenants, err := normalize(names)
	if err != nil {
		return fmt.Errorf("group: set tenants: %w", err)
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	g.tenants = tenants
	g.mu.Unlock()
	g.reconcile()
	return nil
}

// Status is what /status shows of the group (field "group").
type Status struct {
	GroupID string `json:"group_id"`
	// MemberID and Generation are the coordinator's names for this member and the current
	// assignment ("" and -1 before the first assignment).
	MemberID   string `json:"member_id"`
	Generation int32  `json:"generation"`
	// Partitions is the work topic's partition count; AssignedPartitions how many of them
	// this member holds.
	Partitions         int `json:"partitions"`
	AssignedPartitions int `json:"assigned_partitions"`
	// OwnedTenants are the tenants this instance runs, sorted.
	OwnedTenants []string `json:"owned_tenants"`
}

// Status returns the membership as it is now.
func (g *Group) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Status{GroupID: g.opts.GroupID, MemberID: "", Generation: -1, Partitions: g.partitions,
		OwnedTenants: slices.Sorted(maps.Keys(g.owned))}
	if s := g.sess; s != nil && !s.expired {
		st.MemberID, st.Generation, st.AssignedPartitions = s.memberID, s.gen, len(s.assigned)
		if st.MemberID == "" {
			st.Generation = -1
		}
	}
	if st.OwnedTenants == nil {
		st.OwnedTenants = []string{}
	}
	return st
}

// Run creates the work topic if needed, joins the group and keeps this instance's share of the
// tenants owned until ctx ends. Then it releases every tenant first and leaves the group
// second, so that no other member takes a tenant before it stopped here; it returns ctx.Err().
// A work topic that cannot be created or described for good ends Run with an error wrapping
// ErrWorkTopic. Run may be called once.
func (g *Group) Run(ctx context.Context) error {
	n, err := g.workTopic(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.ctx, g.partitions = ctx, n
	g.mu.Unlock()
	g.log.InfoContext(ctx, "joining the consumer group", "topic", g.opts.Topic, "partitions", n,
		"session_timeout", g.opts.SessionTimeout, "tenants", len(g.tenants))
	for {
		err := g.member(ctx)
		if ctx.Err() != nil {
			if err != nil {
				g.log.Warn("leaving the consumer group", "err", err)
			}
			g.log.Info("left the consumer group")
			return ctx.Err()
		}
		if err != nil {
			g.log.WarnContext(ctx, "consumer group member failed; joining again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(restartPause):
		}
	}
}

// workTopic creates the work topic if it does not exist and returns its partition count,
// waiting for brokers that do not answer yet.
func (g *Group) workTopic(ctx context.Context) (int, error) {
	spec := kafka.TopicSpec{Name: g.opts.Topic, Partitions: g.opts.Partitions, ReplicationFactor: g.opts.ReplicationFactor}
	for pause := time.Second; ; pause = min(2*pause, 30*time.Second) {
		err := g.opts.Admin.EnsureTopics(ctx, []kafka.TopicSpec{spec})
		var n int
		if err == nil {
			n, err = g.opts.Admin.Partitions(ctx, g.opts.Topic)
		}
		switch {
		case err == nil:
			if n != g.opts.Partitions {
				g.log.WarnContext(ctx, "work topic has another partition count than configured; using it", "topic", g.opts.Topic, "partitions", n, "configured", g.opts.Partitions)
			}
			return n, nil
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case !kafka.Retryable(err):
			return 0, fmt.Errorf("%w %s: %w", ErrWorkTopic, g.opts.Topic, err)
		}
		g.log.WarnContext(ctx, "work topic not reachable yet; trying again", "topic", g.opts.Topic, "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// member runs one member of the group until ctx ends or its lease runs out.
func (g *Group) member(ctx context.Context) error {
	s := &session{lease: newLease(g.opts.SessionTimeout*2/3, g.opts.RebalanceTimeout), assigned: map[int32]bool{}}
	opts := append(slices.Clone(g.kopts),
		kgo.ConsumerGroup(g.opts.GroupID),
		kgo.ConsumeTopics(g.opts.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(g.opts.SessionTimeout),
		kgo.RebalanceTimeout(g.opts.RebalanceTimeout),
		kgo.HeartbeatInterval(g.opts.HeartbeatInterval),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			member, gen := cl.GroupMetadata()
			g.assigned(s, member, gen, m[g.opts.Topic])
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.revoked(s, m[g.opts.Topic], "") }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { g.revoked(s, m[g.opts.Topic], lostGroup) }),
		kgo.WithHooks(s.lease),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("group: client: %w", err)
	}
	// The member never reads the work topic: its partitions are only the unit of assignment.
	// Group membership (join, heartbeats, rebalances) runs in the client's own goroutines
	// whether or not anything polls, so fetching is simply switched off.
	cl.PauseFetchTopics(g.opts.Topic)
	g.mu.Lock()
	g.sess = s
	g.mu.Unlock()

	defer func() {
		g.mu.Lock()
		if g.sess == s {
			g.sess = nil
		}
		g.mu.Unlock()
	}()
	tick := time.NewTicker(min(g.opts.HeartbeatInterval, time.Second))
	defer tick.Stop()
	for expired := false; !expired; {
		select {
		case <-ctx.Done():
			// Shutdown: release every tenant first, then leave, so that the next owner starts
			// only after this one stopped. Close waits for the leave and calls the revoke
			// callback, which finds nothing left to release.
			g.stop()
			lctx, cancel := context.WithTimeout(context.Background(), min(leaveWithin, g.opts.SessionTimeout))
			err := cl.LeaveGroupContext(lctx)
			cancel()
			closeWithin(cl, leaveWithin)
			if err != nil {
				return fmt.Errorf("group: leave: %w (the coordinator drops this member after the session timeout)", err)
			}
			return nil
		case <-tick.C:
			expired = s.lease.expired(time.Now())
			if !expired {
				g.retry()
			}
		}
	}
	// The coordinator has not answered for most of the session timeout: it may be about to
	// give this member's partitions to another. Release everything now, then give this member
	// up (it cannot leave, the coordinator is out of reach) and join anew with a fresh one.
	g.expire(s)
	leaveCtx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = cl.LeaveGroupContext(leaveCtx) // without waiting: the coordinator is out of reach
	closeWithin(cl, leaveWithin)
	return nil
}

// closeWithin closes cl, waiting at most d: a client whose requests hang on a silent network
// finishes closing when their timeouts fire. Every tenant was released before, so nothing
// depends on it any more.
func closeWithin(cl *kgo.Client, d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.Close()
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// assigned handles a completed rebalance: the partitions added to this member.
func (g *Group) assigned(s *session, member string, gen int32, added []int32) {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	if s != g.sess || s.expired {
		g.mu.Unlock()
		return
	}
	for _, p := range added {
		if int(p) >= g.partitions {
			g.log.Warn("work topic has more partitions than when the group started; a restart of every instance picks them up", "partition", p, "partitions", g.partitions)
			continue
		}
		s.assigned[p] = true
	}
	s.memberID, s.gen = member, gen
	g.m.assigned.Set(float64(len(s.assigned)))
	g.mu.Unlock()
	g.m.rebalances.Inc()
	g.reconcile()
}

// revoked handles partitions taken away (cause "") or lost (cause lostGroup): their
// tenants are released before it returns, and so before the group hands them on.
func (g *Group) revoked(s *session, partitions []int32, cause string) {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	if s != g.sess || s.expired {
		g.mu.Unlock()
		return
	}
	if cause != "" && len(s.assigned) > 0 {
		g.m.lost.WithLabelValues(cause).Inc()
	}
	for _, p := range partitions {
		delete(s.assigned, p)
	}
	g.m.assigned.Set(float64(len(s.assigned)))
	g.mu.Unlock()
	g.reconcile()
}

// expire gives up s, whose lease ran out: everything it owned is released.
func (g *Group) expire(s *session) {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	if s.expired {
		g.mu.Unlock()
		return
	}
	s.expired = true
	if len(s.assigned) > 0 {
		g.m.lost.WithLabelValues(lostLease).Inc()
		g.log.Warn("no answer from the group coordinator for 2/3 of the session timeout; released every tenant and joining anew",
			"session_timeout", g.opts.SessionTimeout, "partitions", len(s.assigned))
	}
	clear(s.assigned)
	g.m.assigned.Set(0)
	g.mu.Unlock()
	g.reconcile()
}

// stop releases every tenant for good (Run is ending).
func (g *Group) stop() {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	g.reconcile()
}

// retry takes again tenants whose Own failed, once their pause is over.
func (g *Group) retry() {
	g.mu.Lock()
	due := !g.retryAt.IsZero() && !time.Now().Before(g.retryAt)
	g.mu.Unlock()
	if !due {
		return
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.reconcile()
}

// reconcile makes the Owner run exactly the configured tenants that hash onto the partitions
// the current member holds under a valid lease: it releases the others first and then takes
// the missing ones. The caller holds opMu.
func (g *Group) reconcile() {
	g.mu.Lock()
	want := map[string]bool{}
	if s := g.sess; s != nil && !s.expired && !g.stopping && g.partitions > 0 {
		for _, t := range g.tenants {
			if s.assigned[Partition(t, g.partitions)] {
				want[t] = true
			}
		}
	}
	var release, take []string
	for t := range g.owned {
		if !want[t] {
			release = append(release, t)
		}
	}
	for t := range want {
		if !g.owned[t] {
			take = append(take, t)
		}
	}
	ctx := g.ctx
	g.retryAt = time.Time{}
	g.mu.Unlock()
	slices.Sort(release)
	slices.Sort(take)

	if len(release) > 0 {
		g.opts.Owner.Release(release)
		g.mu.Lock()
		for _, t := range release {
			delete(g.owned, t)
		}
		g.m.owned.Set(float64(len(g.owned)))
		g.mu.Unlock()
		g.log.Info("released tenants", "tenants", release)
	}
	if len(take) == 0 {
		return
	}
	if err := g.opts.Owner.Own(ctx, take); err != nil {
		// Which of them started is unknown: release them all so that what the Owner runs is
		// what g.owned says, and try again shortly.
		g.opts.Owner.Release(take)
		g.m.ownErrors.Inc()
		g.mu.Lock()
		g.retryAt = time.Now().Add(ownRetry)
		g.mu.Unlock()
		g.log.Warn("could not take tenants; trying again", "tenants", take, "err", err, "in", ownRetry)
		return
	}
	g.mu.Lock()
	for _, t := range take {
		g.owned[t] = true
	}
	g.m.owned.Set(float64(len(g.owned)))
	g.mu.Unlock()
	g.log.Info("took tenants", "tenants", take)
}
