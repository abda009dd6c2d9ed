package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// A tenant's partition is the Java client's murmur2 placement of its name: the same in every
// instance, whatever the order in which names were configured.
func TestPartition(t *testing.T) {
	// murmur2("foobar") = -790332482 (Kafka's UtilsTest); toPositive = 1357151166; % 64 = 62.
	if got := Partition("foobar", 64); got != 62 {
		t.Fatalf(`Partition("foobar", 64) = %d, want 62`, got)
	}
	counts := make([]int, 64)
	for i := range 6400 {
		name := fmt.Sprintf("company-%d", i)
		p := Partition(name, 64)
		if want := int32(kafka.Partition([]byte(name), 64)); p != want {
			t.Fatalf("Partition(%q) = %d, kafka.Partition %d", name, p, want)
		}
		counts[p]++
	}
	// 100 per partition on average; murmur2 is no worse than a few times that anywhere.
	for p, n := range counts {
		if n == 0 || n > 300 {
			t.Errorf("partition %d holds %d of 6400 tenants", p, n)
		}
	}
}

// nopOwner satisfies Owner for option tests.
type nopOwner struct{}

func (nopOwner) Own(context.Context, []string) error { return nil }
func (nopOwner) Release([]string)                    {}

// nopAdmin satisfies Admin for option tests.
type nopAdmin struct{}

func (nopAdmin) EnsureTopics(context.Context, []kafka.TopicSpec) error { return nil }
func (nopAdmin) Partitions(context.Context, string) (int, error)       { return 8, nil }

func goodOptions() Options {
	return Options{
		Kafka:   kafka.Config{Brokers: []string{"127.0.0.1:9"}},
		GroupID: "personio-cdc", Topic: "personio.work",
		Tenants: []string{"acme", "globex"},
		Owner:   nopOwner{}, Admin: nopAdmin{},
	}
}

func TestNewValidatesOptions(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Options)
		want []string
	}{
		{"no group id", func(o *Options) { o.GroupID = "" }, []string{"group id is required"}},
		{"group id with a line break", func(o *Options) { o.GroupID = "a\nb" }, []string{"group id"}},
		{"no topic", func(o *Options) { o.Topic = "" }, []string{"work topic is required"}},
		{"partitions", func(o *Options) { o.Partitions = -1 }, []string{"partitions -1"}},
		{"too many partitions", func(o *Options) { o.Partitions = 10001 }, []string{"partitions 10001"}},
		{"session timeout", func(o *Options) { o.SessionTimeout = time.Millisecond }, []string{"session timeout"}},
		{"rebalance timeout", func(o *Options) { o.RebalanceTimeout = -time.Second }, []string{"rebalance timeout"}},
		{"heartbeat", func(o *Options) { o.HeartbeatInterval = 20 * time.Second }, []string{"heartbeat interval"}},
		{"owner", func(o *Options) { o.Owner = nil }, []string{"Owner"}},
		{"admin", func(o *Options) { o.Admin = nil }, []string{"Admin"}},
		{"duplicate tenant", func(o *Options) { o.Tenants = []string{"acme", "acme"} }, []string{`"acme" is listed twice`}},
		{"empty tenant", func(o *Options) { o.Tenants = []string{""} }, []string{"must not be empty"}},
		{"kafka", func(o *Options) { o.Kafka.Brokers = nil }, []string{"kafka brokers"}},
		{"every problem at once", func(o *Options) { o.GroupID, o.Topic, o.Owner = "", "", nil },
			[]string{"group id", "work topic", "Owner"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := goodOptions()
			tt.mut(&o)
			_, err := New(o)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("New: %v, want ErrInvalidOptions", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	g, err := New(goodOptions())
	if err != nil {
		t.Fatalf("New(good options): %v", err)
	}
	if g.opts.Partitions != DefaultPartitions || g.opts.SessionTimeout != DefaultSessionTimeout ||
		g.opts.RebalanceTimeout != DefaultRebalanceTimeout || g.opts.HeartbeatInterval != DefaultSessionTimeout/10 {
		t.Errorf("defaults: %+v", g.opts)
	}
}

func TestLease(t *testing.T) {
	t0 := time.Now()
	l := newLease(20*time.Second, 60*time.Second)
	if l.expired(t0.Add(time.Hour)) {
		t.Fatal("a lease never renewed ran out (the member held nothing yet)")
	}
	l.renew(t0)
	if l.expired(t0.Add(19 * time.Second)) {
		t.Fatal("lease ran out before its time")
	}
	if !l.expired(t0.Add(20 * time.Second)) {
		t.Fatal("lease still held at its time")
	}
	l.renew(t0.Add(-time.Minute)) // an older answer does not move it back
	if l.expired(t0.Add(19 * time.Second)) {
		t.Fatal("an older renewal shortened the lease")
	}
	// A join the coordinator holds keeps the lease for up to the rebalance timeout.
	l.mu.Lock()
	l.joining = t0.Add(10 * time.Second)
	l.mu.Unlock()
	if l.expired(t0.Add(65 * time.Second)) {
		t.Fatal("a join in flight did not keep the lease")
	}
	if !l.expired(t0.Add(70 * time.Second)) {
		t.Fatal("a join in flight kept the lease past the rebalance timeout")
	}
	// Answers through the hook: a heartbeat renews from when it was sent, a join that waited
	// long at the coordinator from when its answer came; failed round trips renew nothing.
	l3 := newLease(20*time.Second, 60*time.Second)
	l3.OnBrokerE2E(kgo.BrokerMetadata{}, kmsg.Heartbeat.Int16(), kgo.BrokerE2E{ReadErr: errors.New("reset")})
	if l3.expired(time.Now().Add(time.Hour)) {
		t.Fatal("a failed heartbeat renewed the lease")
	}
	l3.OnBrokerE2E(kgo.BrokerMetadata{}, kmsg.Heartbeat.Int16(), kgo.BrokerE2E{ReadWait: 15 * time.Second})
	if !l3.expired(time.Now().Add(6 * time.Second)) {
		t.Fatal("a heartbeat answered after 15 s renewed from its answer, not from when it was sent")
	}
	l3.OnBrokerWrite(kgo.BrokerMetadata{}, kmsg.JoinGroup.Int16(), 100, 0, 0, nil)
	if l3.expired(time.Now().Add(50 * time.Second)) {
		t.Fatal("the join in flight did not keep the lease")
	}
	l3.OnBrokerE2E(kgo.BrokerMetadata{}, kmsg.JoinGroup.Int16(), kgo.BrokerE2E{ReadWait: 45 * time.Second})
	if l3.expired(time.Now().Add(19 * time.Second)) {
		t.Fatal("a join answered after 45 s at the coordinator left no lease")
	}

	// Wall-clock time counts even where the monotonic clock stood still (a suspended machine).
	l2 := newLease(20*time.Second, 60*time.Second)
	l2.renew(t0)
	suspended := t0.Add(time.Second).Round(0).Add(30 * time.Second) // wall only: no monotonic reading
	if !l2.expired(suspended) {
		t.Fatal("lease held although 31 s of wall-clock time went by")
	}
}

// recordingOwner remembers every call and which tenants it runs; it fails Own while failOwn.
type recordingOwner struct {
	mu      sync.Mutex
	running map[string]bool
	calls   []string
	failOwn bool
	twice   []string // tenants Own'ed while running
}

func (o *recordingOwner) Own(_ context.Context, tenants []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, "own "+strings.Join(tenants, ","))
	if o.failOwn {
		return errors.New("fence not acquired")
	}
	for _, t := range tenants {
		if o.running[t] {
			o.twice = append(o.twice, t)
		}
		o.running[t] = true
	}
	return nil
}

func (o *recordingOwner) Release(tenants []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, "release "+strings.Join(tenants, ","))
	for _, t := range tenants {
		delete(o.running, t)
	}
}

func (o *recordingOwner) take() (calls []string, running []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	calls, o.calls = o.calls, nil
	for t := range o.running {
		running = append(running, t)
	}
	slices.Sort(running)
	return calls, running
}

// tenantsOn returns count tenant names that hash onto partition p of n.
func tenantsOn(p int32, n, count int) []string {
	var out []string
	for i := 0; len(out) < count; i++ {
		if name := fmt.Sprintf("t%d", i); Partition(name, n) == p {
			out = append(out, name)
		}
	}
	return out
}

// The ownership bookkeeping, driven as the kgo callbacks drive it: assignment takes the
// tenants of the added partitions, revocation releases before returning, a reloaded tenant
// list is re-derived, a failed Own is released and retried, an expired lease and shutdown
// release everything.
func TestOwnershipFollowsTheAssignment(t *testing.T) {
	const n = 8
	on0, on1, on2 := tenantsOn(0, n, 2), tenantsOn(1, n, 2), tenantsOn(2, n, 1)
	owner := &recordingOwner{running: map[string]bool{}}
	reg := prometheus.NewRegistry()
	o := goodOptions()
	o.Owner, o.Registerer = owner, reg
	o.Tenants = slices.Concat(on0, on1)
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{lease: newLease(time.Hour, time.Hour), assigned: map[int32]bool{}}
	g.ctx, g.partitions, g.sess = t.Context(), n, s
	check := func(step string, wantCalls []string, wantRunning []string) {
		t.Helper()
		calls, running := owner.take()
		if !slices.Equal(calls, wantCalls) {
			t.Errorf("%s: calls %q, want %q", step, calls, wantCalls)
		}
		if !slices.Equal(running, wantRunning) {
			t.Errorf("%s: running %q, want %q", step, running, wantRunning)
		}
		if st := g.Status(); !slices.Equal(st.OwnedTenants, wantRunning) && !(len(wantRunning) == 0 && len(st.OwnedTenants) == 0) {
			t.Errorf("%s: status owns %q, want %q", step, st.OwnedTenants, wantRunning)
		}
		if got := testutil.ToFloat64(g.m.owned); got != float64(len(wantRunning)) {
			t.Errorf("%s: owned_tenants %v, want %d", step, got, len(wantRunning))
		}
	}
	sorted := func(ts ...[]string) []string { out := slices.Concat(ts...); slices.Sort(out); return out }
	join := func(ts []string) string { return strings.Join(ts, ",") }

	g.assigned(s, "member-1", 3, []int32{0, 5})
	check("assign 0 and 5", []string{"own " + join(sorted(on0))}, sorted(on0))
	if st := g.Status(); st.MemberID != "member-1" || st.Generation != 3 || st.AssignedPartitions != 2 || st.Partitions != n {
		t.Errorf("status %+v", st)
	}

	g.assigned(s, "member-1", 4, []int32{1})
	check("assign 1", []string{"own " + join(sorted(on1))}, sorted(on0, on1))

	g.revoked(s, []int32{0}, "")
	check("revoke 0", []string{"release " + join(sorted(on0))}, sorted(on1))

	// A reload adds a tenant on a held partition and one on a partition held elsewhere, and
	// removes one.
	if err := g.SetTenants(slices.Concat(on0, on1[:1], on2)); err != nil {
		t.Fatal(err)
	}
	check("reload", []string{"release " + on1[1]}, on1[:1])
	if err := g.SetTenants([]string{"x", "x"}); err == nil {
		t.Error("SetTenants accepted a duplicate")
	}

	// Own fails: the tenants are released again and taken on a later retry.
	owner.mu.Lock()
	owner.failOwn = true
	owner.mu.Unlock()
	g.assigned(s, "member-1", 5, []int32{2})
	check("failed own", []string{"own " + join(on2), "release " + join(on2)}, on1[:1])
	if got := testutil.ToFloat64(g.m.ownErrors); got != 1 {
		t.Errorf("own_errors_total %v, want 1", got)
	}
	owner.mu.Lock()
	owner.failOwn = false
	owner.mu.Unlock()
	g.retry() // not due yet
	check("retry before its time", nil, on1[:1])
	g.mu.Lock()
	g.retryAt = time.Now().Add(-time.Second)
	g.mu.Unlock()
	g.retry()
	check("retry", []string{"own " + join(on2)}, sorted(on1[:1], on2))

	// The coordinator drops the member: everything it held is released at once.
	g.revoked(s, []int32{1, 2, 5}, lostGroup)
	check("lost", []string{"release " + join(sorted(on1[:1], on2))}, nil)
	if got := testutil.ToFloat64(g.m.lost.WithLabelValues(lostGroup)); got != 1 {
		t.Errorf("lost_total{cause=group} %v, want 1", got)
	}

	// The lease runs out: released, and the old member's late callbacks change nothing.
	g.assigned(s, "member-1", 7, []int32{0})
	check("assign again", []string{"own " + join(sorted(on0))}, sorted(on0))
	g.expire(s)
	check("lease expired", []string{"release " + join(sorted(on0))}, nil)
	g.assigned(s, "member-1", 8, []int32{0, 1, 2})
	check("callback of the expired member", nil, nil)
	if got := testutil.ToFloat64(g.m.lost.WithLabelValues(lostLease)); got != 1 {
		t.Errorf("lost_total{cause=lease} %v, want 1", got)
	}

	// A new member; then shutdown releases everything and owns nothing afterwards.
	s2 := &session{lease: newLease(time.Hour, time.Hour), assigned: map[int32]bool{}}
	g.mu.Lock()
	g.sess = s2
	g.mu.Unlock()
	g.assigned(s2, "member-2", 9, []int32{0, 2})
	check("new member", []string{"own " + join(sorted(on0, on2))}, sorted(on0, on2))
	g.stop()
	check("stop", []string{"release " + join(sorted(on0, on2))}, nil)
	g.assigned(s2, "member-2", 10, []int32{1})
	check("assignment during shutdown", nil, nil)
	if len(owner.twice) > 0 {
		t.Errorf("tenants owned twice: %q", owner.twice)
	}
}
