//go:build integration

package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// Integration tests against the real broker of the test environment:
//
//	scripts/testenv up && . .testenv/env && go test -tags integration -count=1 -run TestIntegrationGroup ./internal/group/

// ledger is what every member's fake Owner reports to: who holds which tenant, and every
// holding as an interval. Own of a tenant another member holds is a violation, found on the
// spot (all members live in this process, so the ledger's lock orders their calls).
type ledger struct {
	mu         sync.Mutex
	holder     map[string]string // tenant -> member
	intervals  []interval
	violations []string
}

type interval struct {
	tenant, member string
	from, to       time.Time // to is zero while held
}

func newLedger() *ledger { return &ledger{holder: map[string]string{}} }

func (l *ledger) own(member string, tenants []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, t := range tenants {
		if h, ok := l.holder[t]; ok {
			l.violations = append(l.violations, fmt.Sprintf("%s took %s while %s held it", member, t, h))
		}
		l.holder[t] = member
		l.intervals = append(l.intervals, interval{tenant: t, member: member, from: now})
	}
}

func (l *ledger) release(member string, tenants []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, t := range tenants {
		if l.holder[t] == member {
			delete(l.holder, t)
		}
		for i := range l.intervals {
			if iv := &l.intervals[i]; iv.tenant == t && iv.member == member && iv.to.IsZero() {
				iv.to = now
			}
		}
	}
}

// lastRelease returns when member released its last tenant.
func (l *ledger) lastRelease(member string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, iv := range l.intervals {
		if iv.member == member && iv.to.After(last) {
			last = iv.to
		}
	}
	return last
}

// owners returns tenant -> member as it is now.
func (l *ledger) owners() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.holder))
	for t, m := range l.holder {
		out[t] = m
	}
	return out
}

// overlaps checks the recorded intervals: no two members' holdings of one tenant overlap.
func (l *ledger) overlaps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.violations)
	far := time.Now().Add(time.Hour)
	end := func(iv interval) time.Time {
		if iv.to.IsZero() {
			return far
		}
		return iv.to
	}
	for i, a := range l.intervals {
		for _, b := range l.intervals[i+1:] {
			if a.tenant == b.tenant && a.member != b.member && a.from.Before(end(b)) && b.from.Before(end(a)) {
				out = append(out, fmt.Sprintf("%s held by %s [%s, %s] and %s [%s, %s]", a.tenant,
					a.member, a.from.Format(time.StampMilli), end(a).Format(time.StampMilli),
					b.member, b.from.Format(time.StampMilli), end(b).Format(time.StampMilli)))
			}
		}
	}
	return out
}

// fakeOwner is one member's Owner: it reports to the ledger.
type fakeOwner struct {
	name string
	l    *ledger
}

func (o fakeOwner) Own(_ context.Context, tenants []string) error {
	o.l.own(o.name, tenants)
	return nil
}
func (o fakeOwner) Release(tenants []string) { o.l.release(o.name, tenants) }

// network is a member's connections to the brokers, which the test can break in two ways:
// sever closes every connection and refuses new ones (a firewall that rejects: the client sees
// errors at once); freeze lets nothing through in either direction and answers nothing (a
// partition that drops packets: the client sees silence until its own timeouts).
type network struct {
	mu     sync.Mutex
	cut    bool
	frozen chan struct{} // closed when frozen
	conns  []*testConn
}

func newNetwork() *network { return &network{frozen: make(chan struct{})} }

func (n *network) isFrozen() bool {
	select {
	case <-n.frozen:
		return true
	default:
		return false
	}
}

func (n *network) dial(ctx context.Context, nw, host string) (net.Conn, error) {
	if n.isFrozen() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut {
		return nil, errors.New("test: network cut")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, nw, host)
	if err != nil {
		return nil, err
	}
	tc := &testConn{Conn: c, n: n}
	n.conns = append(n.conns, tc)
	return tc, nil
}

func (n *network) sever() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = true
	for _, c := range n.conns {
		_ = c.Close()
	}
}

func (n *network) freeze() { close(n.frozen) }

// testConn is a connection into a network that may go silent: once frozen, what is written is
// accepted and lost, and nothing arrives any more; reads wait for the client's deadline, as on
// a network that drops packets.
type testConn struct {
	net.Conn
	n *network
}

func (c *testConn) Write(p []byte) (int, error) {
	if c.n.isFrozen() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *testConn) Read(p []byte) (int, error) {
	for {
		k, err := c.Conn.Read(p)
		if !c.n.isFrozen() || err != nil {
			return k, err
		}
		// frozen: what still arrives is dropped
	}
}

// member is one instance in the test.
type member struct {
	name   string
	g      *Group
	reg    *prometheus.Registry
	net    *network
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned
}

// stop cancels the member's Run and waits for it (the clean leave).
func (m *member) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	select {
	case <-m.done:
		if !errors.Is(m.err, context.Canceled) {
			t.Errorf("%s: Run returned %v, want context.Canceled", m.name, m.err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s: Run did not return within a minute of its context ending", m.name)
	}
}

const (
	testSession   = 6 * time.Second // the broker's group.min.session.timeout.ms
	testPartition = 12
)

type cluster struct {
	t       *testing.T
	brokers []string
	admin   *kafka.Client
	groupID string
	topic   string
	ledger  *ledger
	tenants []string
}

func newCluster(t *testing.T, tenants int) *cluster {
	t.Helper()
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("KAFKA_BROKERS is not set: start the test environment (scripts/testenv up) and source .testenv/env")
	}
	admin, err := kafka.New(kafka.Config{Brokers: strings.Split(brokers, ",")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	c := &cluster{t: t, brokers: strings.Split(brokers, ","), admin: admin, ledger: newLedger(),
		groupID: "group-test-" + hex.EncodeToString(suffix), topic: "group-test-" + hex.EncodeToString(suffix) + ".work"}
	for i := range tenants {
		c.tenants = append(c.tenants, fmt.Sprintf("company-%02d", i))
	}
	return c
}

func (c *cluster) start(name string) *member {
	c.t.Helper()
	m := &member{name: name, reg: prometheus.NewRegistry(), net: newNetwork(), done: make(chan struct{})}
	opts := Options{
		Kafka:   kafka.Config{Brokers: c.brokers, ClientID: "group-test-" + name},
		GroupID: c.groupID, Topic: c.topic, Partitions: testPartition,
		SessionTimeout: testSession, HeartbeatInterval: 500 * time.Millisecond, RebalanceTimeout: 20 * time.Second,
		Tenants: c.tenants, Owner: fakeOwner{name: name, l: c.ledger}, Admin: c.admin,
		Registerer: m.reg,
		Logger:     slog.New(slog.NewTextHandler(testWriter{c.t, name}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		dial:       m.net.dial,
	}
	g, err := New(opts)
	if err != nil {
		c.t.Fatal(err)
	}
	m.g = g
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.err = g.Run(ctx); close(m.done) }()
	c.t.Cleanup(func() {
		cancel()
		<-m.done
	})
	return m
}

// await waits (bounded) until every tenant has exactly one holder, all among members, each of
// them holding at least one; it returns how long that took.
func (c *cluster) await(step string, within time.Duration, members ...*member) time.Duration {
	c.t.Helper()
	start := time.Now()
	names := map[string]bool{}
	for _, m := range members {
		names[m.name] = true
	}
	var last string
	for time.Since(start) < within {
		owners := c.ledger.owners()
		per := map[string]int{}
		ok := len(owners) == len(c.tenants)
		for _, t := range c.tenants {
			m, held := owners[t]
			if !held || !names[m] {
				ok = false
			}
			per[m]++
		}
		for _, m := range members {
			if per[m.name] == 0 {
				ok = false
			}
		}
		if ok {
			return time.Since(start)
		}
		last = fmt.Sprintf("%d of %d tenants held, per member %v", len(owners), len(c.tenants), per)
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: tenants not spread over %d members within %v: %s", step, len(members), within, last)
	return 0
}

// checkStatus compares each member's Status with the ledger and the partitions they hold.
func (c *cluster) checkStatus(step string, members ...*member) {
	c.t.Helper()
	owners := c.ledger.owners()
	partitions := 0
	for _, m := range members {
		st := m.g.Status()
		var want []string
		for t, h := range owners {
			if h == m.name {
				want = append(want, t)
			}
		}
		slices.Sort(want)
		if !slices.Equal(st.OwnedTenants, want) {
			c.t.Errorf("%s: %s status owns %v, the ledger says %v", step, m.name, st.OwnedTenants, want)
		}
		if st.MemberID == "" || st.Generation < 1 || st.Partitions != testPartition {
			c.t.Errorf("%s: %s status %+v", step, m.name, st)
		}
		partitions += st.AssignedPartitions
		if got := testutil.ToFloat64(m.g.m.owned); got != float64(len(want)) {
			c.t.Errorf("%s: %s owned_tenants %v, want %d", step, m.name, got, len(want))
		}
	}
	if partitions != testPartition {
		c.t.Errorf("%s: members hold %d partitions in all, want %d", step, partitions, testPartition)
	}
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestIntegrationGroupSharesTenants: three members share 30 tenants disjointly and fully; a
// member that leaves hands its tenants on, a member that joins takes a share, a reloaded
// tenant list is followed, and a member whose network is cut releases its tenants itself
// (the lease) before the coordinator gives them to the others after the session timeout. At
// no moment does any tenant have two owners.
func TestIntegrationGroupSharesTenants(t *testing.T) {
	c := newCluster(t, 30)
	a, b, cc := c.start("a"), c.start("b"), c.start("c")
	took := c.await("three members", 2*time.Minute, a, b, cc)
	t.Logf("three members: every tenant owned once after %v", took.Round(time.Millisecond))
	c.checkStatus("three members", a, b, cc)
	if n, err := c.admin.Partitions(t.Context(), c.topic); err != nil || n != testPartition {
		t.Errorf("work topic: %d partitions (%v), want %d", n, err, testPartition)
	}

	// c leaves cleanly: its tenants move to a and b.
	cc.stop(t)
	if st := cc.g.Status(); len(st.OwnedTenants) != 0 {
		t.Errorf("c still owns %v after Run returned", st.OwnedTenants)
	}
	took = c.await("c left", time.Minute, a, b)
	t.Logf("c left: its tenants owned again after %v", took.Round(time.Millisecond))
	c.checkStatus("c left", a, b)

	// d joins: it takes a share, nobody holds a tenant twice meanwhile.
	d := c.start("d")
	took = c.await("d joined", time.Minute, a, b, d)
	t.Logf("d joined: spread again after %v", took.Round(time.Millisecond))
	c.checkStatus("d joined", a, b, d)

	// The tenant list changes (a reloaded file): five go, five come.
	c.tenants = slices.Concat(c.tenants[5:], []string{"new-1", "new-2", "new-3", "new-4", "new-5"})
	for _, m := range []*member{a, b, d} {
		if err := m.g.SetTenants(c.tenants); err != nil {
			t.Fatal(err)
		}
	}
	c.await("reload", 30*time.Second, a, b, d)
	c.checkStatus("reload", a, b, d)

	// b's network goes silent (a partition that drops packets): its lease runs out after 2/3
	// of the session timeout and it releases everything itself; the coordinator drops it after
	// the session timeout and a and d take over.
	cutAt := time.Now()
	b.net.freeze()
	took = c.await("b silent", testSession+time.Minute, a, d)
	t.Logf("b silent: its tenants owned again %v after the freeze (session timeout %v)", took.Round(time.Millisecond), testSession)
	if st := b.g.Status(); len(st.OwnedTenants) != 0 {
		t.Errorf("b still owns %v with its network silent", st.OwnedTenants)
	}
	if got := testutil.ToFloat64(b.g.m.lost.WithLabelValues(lostLease)); got != 1 {
		t.Errorf("b: lost_total{cause=lease} = %v, want 1 (released by its own lease)", got)
	}
	t.Logf("b released its last tenant %v after the freeze", c.ledger.lastRelease("b").Sub(cutAt).Round(time.Millisecond))
	c.checkStatus("b silent", a, d)

	// d's network is cut hard (connections reset, dials refused): its client sees the failed
	// heartbeat at once and the group callback releases everything; a takes over after the
	// session timeout.
	cutAt = time.Now()
	d.net.sever()
	took = c.await("d cut off", testSession+time.Minute, a)
	t.Logf("d cut off: its tenants owned again %v after the cut", took.Round(time.Millisecond))
	if st := d.g.Status(); len(st.OwnedTenants) != 0 {
		t.Errorf("d still owns %v with its network cut", st.OwnedTenants)
	}
	if got := testutil.ToFloat64(d.g.m.lost.WithLabelValues(lostGroup)) + testutil.ToFloat64(d.g.m.lost.WithLabelValues(lostLease)); got < 1 {
		t.Errorf("d: lost_total = %v, want at least 1", got)
	}
	t.Logf("d released its last tenant %v after the cut", c.ledger.lastRelease("d").Sub(cutAt).Round(time.Millisecond))
	c.checkStatus("d cut off", a)

	for _, v := range c.ledger.overlaps() {
		t.Errorf("overlap: %s", v)
	}
	a.stop(t)
	b.stop(t)
	d.stop(t)
	if owners := c.ledger.owners(); len(owners) != 0 {
		t.Errorf("after every member stopped, the ledger still has owners: %v", owners)
	}
}

// TestIntegrationGroupSecure: a member reaches the group over the broker's SASL_SSL listener
// (SCRAM-SHA-512, this run's CA) with the same kafka.Config the service's other clients use,
// creates the work topic and owns every tenant.
func TestIntegrationGroupSecure(t *testing.T) {
	brokers := os.Getenv("PERSONIO_CDC_SECURE_KAFKA_BROKERS")
	pwFile := os.Getenv("PERSONIO_CDC_SECURE_KAFKA_SASL_PASSWORD_FILE")
	if brokers == "" || pwFile == "" {
		t.Fatal("PERSONIO_CDC_SECURE_* is not set: start the test environment (scripts/testenv up) and source .testenv/env")
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	kc := kafka.Config{
		Brokers: strings.Split(brokers, ","),
		TLS:     kafka.TLSConfig{Enabled: true, CAFile: os.Getenv("PERSONIO_CDC_SECURE_KAFKA_CA_FILE")},
		SASL: kafka.SASLConfig{Mechanism: os.Getenv("PERSONIO_CDC_SECURE_KAFKA_SASL_MECHANISM"),
			Username: os.Getenv("PERSONIO_CDC_SECURE_KAFKA_SASL_USERNAME"), Password: strings.TrimSpace(string(pw))},
	}
	admin, err := kafka.New(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	id := "group-secure-" + hex.EncodeToString(suffix)
	l := newLedger()
	tenants := []string{"acme", "globex", "initech", "umbrella"}
	g, err := New(Options{Kafka: kc, GroupID: id, Topic: id + ".work", Partitions: 3,
		SessionTimeout: testSession, HeartbeatInterval: 500 * time.Millisecond,
		Tenants: tenants, Owner: fakeOwner{name: "s", l: l}, Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for len(l.owners()) < len(tenants) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	owned := len(l.owners())
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if owned != len(tenants) {
		t.Fatalf("owned %d of %d tenants within a minute over SASL_SSL", owned, len(tenants))
	}
	if n := len(l.owners()); n != 0 {
		t.Errorf("%d tenants still owned after Run returned", n)
	}
}
