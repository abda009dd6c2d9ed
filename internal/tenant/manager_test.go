package tenant

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// The manager is what the consumer group hands tenants to.
var _ group.Owner = (*Manager)(nil)

// env is one process's shared parts against kfake and srfake.
type env struct {
	base  config.Config
	kc    *kafka.Client
	sr    *codec.Registry
	reads *countingKafka
	reg   *prometheus.Registry
}

// countingKafka counts the whole reads of each topic through the Kafka client.
type countingKafka struct {
	kc *kafka.Client
	mu gosync.Mutex
	n  map[string]int
}

func (c *countingKafka) ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error {
	c.mu.Lock()
	c.n[topic]++
	c.mu.Unlock()
	return c.kc.ReadToEnd(ctx, topic, fn)
}

func (c *countingKafka) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[topic]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	srv := srfake.New()
	t.Cleanup(srv.Close)
	base := config.Default()
	base.Kafka.Brokers = cluster.ListenAddrs()
	base.Kafka.TopicPartitions, base.Kafka.ReplicationFactor = 3, 1
	base.SchemaRegistry.URL = srv.URL()
	base.Sync.EmploymentRefreshPeriod = 0
	base.Sync.FullInterval = time.Hour
	base.Sync.IncrementalInterval = 0
	e := &env{base: base, reg: prometheus.NewRegistry()}
	if e.kc, err = service.NewKafka(base, e.reg, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.kc.Close() })
	if e.sr, err = service.NewRegistry(base, nil, codec.WithRegisterer(e.reg)); err != nil {
		t.Fatal(err)
	}
	e.reads = &countingKafka{kc: e.kc, n: map[string]int{}}
	return e
}

// tenant returns the configuration of a tenant synced from a simulated Personio of its own.
func (e *env) tenant(t *testing.T, name string, persons int, seed int64) (config.Config, *personiotest.Server) {
	t.Helper()
	rate := personiotest.Rate{PerMinute: 60000, Burst: 200}
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: persons, Seed: seed, RateLimit: rate, CompensationRateLimit: rate})
	c := e.base
	c.Personio.Tenant = name
	c.Personio.BaseURL = sim.URL()
	c.Personio.ClientID = personiotest.DefaultClientID
	c.Personio.ClientSecret = config.Secret(personiotest.DefaultClientSecret)
	c.Personio.RateLimitPerMinute, c.Personio.RateBurst = 60000, 200
	c.Personio.CompensationRateLimitPerMinute, c.Personio.CompensationRateBurst = 60000, 200
	return c, sim
}

func (e *env) manager(t *testing.T, cfgs []config.Config, mod func(*Options)) *Manager {
	t.Helper()
	opts := Options{Kafka: e.kc, Registry: e.sr, Registerer: e.reg, Reader: e.reads, Gather: time.Minute}
	if mod != nil {
		mod(&opts)
	}
	m, err := New(opts, cfgs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// serve runs m's Loop until the test ends; it returns Loop's result channel (a test that takes
// the result puts it back).
func serve(t *testing.T, m *Manager) chan error {
	t.Helper()
	stop := make(chan struct{})
	work, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Loop(stop, work) }()
	var once gosync.Once
	t.Cleanup(func() {
		once.Do(func() { close(stop) })
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("Loop did not return after stop")
		}
	})
	return done
}

// waitFor polls cond until it holds; the test context bounds the wait (a hang guard, not a
// timed assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lastOutcome returns the outcome of the tenant's last sync ("" before one ended).
func lastOutcome(m *Manager, name string) syncrun.Outcome {
	m.mu.Lock()
	u, ok := m.units[name]
	m.mu.Unlock()
	if !ok || u.svc == nil {
		return ""
	}
	st := u.stack.Runner.Status()
	if st.Last == nil {
		return ""
	}
	return st.Last.Outcome
}

func stateOf(m *Manager, name string) State {
	for _, st := range m.States() {
		if st.Tenant == name {
			return st
		}
	}
	return State{}
}

// TestTwoTenantsShareTheTopics: two tenants of one process publish to the same topics, each
// under its own key prefix and matching its own Personio; starting them together read each
// entity topic once; their metrics carry the tenant label.
func TestTwoTenantsShareTheTopics(t *testing.T) {
	e := newEnv(t)
	acme, acmeSim := e.tenant(t, "acme", 12, 1)
	globex, globexSim := e.tenant(t, "globex", 7, 2)
	m := e.manager(t, []config.Config{acme, globex}, nil)
	serve(t, m)
	for _, name := range []string{"acme", "globex"} {
		waitFor(t, name+"'s first full sync", func() bool { return lastOutcome(m, name) == syncrun.Complete })
	}

	topic := publish.Topic(e.base.Kafka.TopicPrefix, change.Persons)
	rp, err := oracle.ReplayTopic(t.Context(), e.kc, codec.New(e.sr), topic, change.Persons)
	if err != nil {
		t.Fatal(err)
	}
	for name, sim := range map[string]*personiotest.Server{"acme": acmeSim, "globex": globexSim} {
		want, err := oracle.Expected(sim.Truth(), name, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]change.Hash{}
		for k, h := range rp.State[change.Persons] {
			if strings.HasPrefix(k, name+":") {
				got[k] = h
			}
		}
		if d := oracle.Diff(got, want[change.Persons]); d != "" {
			t.Errorf("%s's persons on the shared topic differ from its Personio: %s", name, d)
		}
	}
	if n := len(rp.State[change.Persons]); n != 12+7 {
		t.Errorf("the persons topic holds %d keys, want 19 (12 acme, 7 globex)", n)
	}
	for _, ent := range []change.Entity{change.Persons, change.Compensations, change.Employments} {
		if n := e.reads.count(publish.Topic(e.base.Kafka.TopicPrefix, ent)); n != 1 {
			t.Errorf("two tenants started together read %s %d times, want once", ent, n)
		}
	}
	for _, name := range []string{"acme", "globex"} {
		n, err := testutil.GatherAndCount(m, "personio_cdc_sync_runs_total")
		if err != nil || n == 0 {
			t.Fatalf("gather: %d series, %v", n, err)
		}
		if got := counterValue(t, m, "personio_cdc_sync_runs_total", map[string]string{"tenant": name, "kind": "full", "result": "complete"}); got != 1 {
			t.Errorf("personio_cdc_sync_runs_total{tenant=%q,kind=full,result=complete} = %v, want 1", name, got)
		}
	}
}

// counterValue returns the sum of the series of name on g whose labels include want.
func counterValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case mt.GetCounter() != nil:
				sum += mt.GetCounter().GetValue()
			case mt.GetGauge() != nil:
				sum += mt.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestRefusedCredentialStopsOnlyThatTenant: Personio refusing one tenant's credential in
// service.FatalAuthFailures syncs in a row stops that tenant (status and metric say why), not
// the process, and the other tenant keeps syncing.
func TestRefusedCredentialStopsOnlyThatTenant(t *testing.T) {
	e := newEnv(t)
	good, _ := e.tenant(t, "good", 5, 1)
	bad, _ := e.tenant(t, "bad", 5, 2)
	bad.Personio.ClientSecret = config.Secret("not-the-secret")
	// Retries every incremental interval: the second refusal comes quickly.
	good.Sync.IncrementalInterval, bad.Sync.IncrementalInterval = 20*time.Millisecond, 20*time.Millisecond
	m := e.manager(t, []config.Config{good, bad}, nil)
	done := serve(t, m)
	waitFor(t, "bad to stop", func() bool { return stateOf(m, "bad").State == StateStopped })
	st := stateOf(m, "bad")
	if st.Reason != ReasonCredentialRefused || !strings.Contains(st.Error, "refused") {
		t.Errorf("bad's state = %+v, want stopped with reason %s", st, ReasonCredentialRefused)
	}
	if got := counterValue(t, e.reg, "personio_cdc_tenant_stopped", map[string]string{"tenant": "bad", "reason": ReasonCredentialRefused}); got != 1 {
		t.Errorf("personio_cdc_tenant_stopped{tenant=bad} = %v, want 1", got)
	}
	// good keeps syncing after bad stopped: more syncs complete.
	runs := func() float64 {
		return counterValue(t, m, "personio_cdc_sync_runs_total", map[string]string{"tenant": "good", "result": "complete"})
	}
	before := runs()
	waitFor(t, "good to sync again after bad stopped", func() bool { return runs() > before+1 })
	if st := stateOf(m, "good"); st.State != StateRunning {
		t.Errorf("good's state = %+v, want running", st)
	}
	select {
	case err := <-done:
		t.Fatalf("Loop returned %v: one tenant's refused credential stopped the process", err)
	default:
	}

	// A changed credential starts the tenant again.
	bad.Personio.ClientSecret = config.Secret(personiotest.DefaultClientSecret)
	if err := m.Apply(t.Context(), []config.Config{good, bad}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bad to sync with its fixed credential", func() bool { return lastOutcome(m, "bad") == syncrun.Complete })
	if got := counterValue(t, e.reg, "personio_cdc_tenant_stopped", map[string]string{"tenant": "bad"}); got != 0 {
		t.Errorf("personio_cdc_tenant_stopped{tenant=bad} = %v after the fix, want none", got)
	}
}

// TestStopOnFatalKeepsOneTenantBehaviour: with StopOnFatal (one tenant, single instance) the
// refused credential ends Loop with the fatal error, as the service did before tenants.
func TestStopOnFatalKeepsOneTenantBehaviour(t *testing.T) {
	e := newEnv(t)
	bad, _ := e.tenant(t, "bad", 3, 2)
	bad.Personio.ClientSecret = config.Secret("not-the-secret")
	bad.Sync.IncrementalInterval = 20 * time.Millisecond
	m := e.manager(t, []config.Config{bad}, func(o *Options) { o.StopOnFatal = true })
	done := serve(t, m)
	var err error
	waitFor(t, "Loop to return", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	done <- err
	if !service.IsFatal(err) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Loop = %v, want the fatal error of the refused credential", err)
	}
}

// TestApplyAddsRemovesAndRestarts: Apply starts an added tenant, stops a removed one (its
// metrics leave the scrape), restarts only the tenant whose settings changed (registering its
// metrics again without a duplicate-registration panic) and leaves the others running.
func TestApplyAddsRemovesAndRestarts(t *testing.T) {
	e := newEnv(t)
	acme, _ := e.tenant(t, "acme", 4, 1)
	globex, _ := e.tenant(t, "globex", 4, 2)
	initech, _ := e.tenant(t, "initech", 4, 3)
	m := e.manager(t, []config.Config{acme, globex}, nil)
	serve(t, m)
	unitOf := func(name string) *unit {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.units[name]
	}
	for _, n := range []string{"acme", "globex"} {
		waitFor(t, n+"'s first sync", func() bool { return lastOutcome(m, n) == syncrun.Complete })
	}
	acmeUnit, globexUnit := unitOf("acme"), unitOf("globex")

	// Add initech, drop globex, change acme's full interval.
	acme2 := acme
	acme2.Sync.FullInterval = 2 * time.Hour
	if err := m.Apply(t.Context(), []config.Config{acme2, initech}); err != nil {
		t.Fatal(err)
	}
	if unitOf("globex") != nil {
		t.Error("globex still runs after it left the configuration")
	}
	select {
	case <-globexUnit.done:
	default:
		t.Error("Apply returned before globex's schedule stopped")
	}
	if u := unitOf("acme"); u == nil || u == acmeUnit || u.cfg.Sync.FullInterval != 2*time.Hour {
		t.Error("acme was not restarted with its changed settings")
	}
	waitFor(t, "initech's first sync", func() bool { return lastOutcome(m, "initech") == syncrun.Complete })
	waitFor(t, "acme's sync after its restart", func() bool { return lastOutcome(m, "acme") == syncrun.Complete })
	if got := counterValue(t, m, "personio_cdc_sync_runs_total", map[string]string{"tenant": "globex"}); got != 0 {
		t.Errorf("globex's sync metrics are still scraped after it was removed: %v", got)
	}
	if got := counterValue(t, m, "personio_cdc_sync_runs_total", map[string]string{"tenant": "acme", "result": "complete"}); got != 1 {
		t.Errorf("acme's restarted runner counts %v complete syncs, want 1 (a fresh registry)", got)
	}
	// Unchanged settings leave a tenant alone.
	initechUnit := unitOf("initech")
	if err := m.Apply(t.Context(), []config.Config{acme2, initech}); err != nil {
		t.Fatal(err)
	}
	if unitOf("initech") != initechUnit {
		t.Error("Apply with unchanged settings restarted initech")
	}
	// A tenant configured twice is refused as a whole, and nothing changes.
	if err := m.Apply(t.Context(), []config.Config{acme2, acme2}); !errors.Is(err, ErrConfig) {
		t.Errorf("Apply of a tenant configured twice = %v, want ErrConfig", err)
	}
	if unitOf("initech") != initechUnit {
		t.Error("a refused Apply stopped initech")
	}
	// The whole scrape is consistent: the process registry and every tenant's together.
	if _, err := (prometheus.Gatherers{e.reg, m}).Gather(); err != nil {
		t.Errorf("gathering every tenant with the process registry: %v", err)
	}
}

// blockingPersonio answers the token request and holds every other request until it is
// cancelled, counting the requests in flight.
type blockingPersonio struct {
	mu       gosync.Mutex
	inflight int
	started  chan struct{}
	once     gosync.Once
}

func (b *blockingPersonio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/auth/token") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":86400,"token_type":"Bearer"}`))
		return
	}
	b.mu.Lock()
	b.inflight++
	b.mu.Unlock()
	b.once.Do(func() { close(b.started) })
	<-r.Context().Done()
	b.mu.Lock()
	b.inflight--
	b.mu.Unlock()
}

// TestReleaseWaitsForTheSync: Own starts assigned tenants only; Release cancels the released
// tenant's sync in flight and returns once its schedule stopped; the other tenant runs on.
func TestReleaseWaitsForTheSync(t *testing.T) {
	e := newEnv(t)
	slow := &blockingPersonio{started: make(chan struct{})}
	srv := httptest.NewServer(slow)
	t.Cleanup(srv.Close)
	held, _ := e.tenant(t, "held", 3, 1)
	held.Personio.BaseURL = srv.URL
	other, _ := e.tenant(t, "other", 3, 2)
	m := e.manager(t, []config.Config{held, other}, func(o *Options) { o.Assigned = true })
	serve(t, m)
	if st := stateOf(m, "held"); st.State != StateNotOwned {
		t.Fatalf("held before Own = %+v, want not_owned", st)
	}
	if err := m.Own(t.Context(), []string{"held", "other"}); err != nil {
		t.Fatal(err)
	}
	<-slow.started // held's sync waits on Personio
	m.mu.Lock()
	u := m.units["held"]
	m.mu.Unlock()
	m.Release([]string{"held"})
	select {
	case <-u.done:
	default:
		t.Fatal("Release returned before held's schedule stopped")
	}
	if u.stack.Runner.Status().Running {
		t.Error("held's sync still runs after Release returned")
	}
	if st := stateOf(m, "held"); st.State != StateNotOwned {
		t.Errorf("held after Release = %+v, want not_owned", st)
	}
	waitFor(t, "other's sync", func() bool { return lastOutcome(m, "other") == syncrun.Complete })
}

// TestValidateTenantSets: a set of tenants is refused whole when a tenant has no name, a name
// is configured twice, or, with WEBHOOK_ADDR, two tenants share a webhook token; each error
// names the tenant and the setting.
func TestValidateTenantSets(t *testing.T) {
	named := func(name, hook string) config.Config {
		c := config.Default()
		c.Personio.Tenant = name
		c.Webhook.Addr = hook
		c.Webhook.Token = config.Secret("token-of-" + name + "-0123456789")
		return c
	}
	shared := func(c config.Config) config.Config {
		c.Webhook.Token = "one-token-for-all-0123456789"
		return c
	}
	for _, tc := range []struct {
		name string
		cfgs []config.Config
		want string // "" for valid
	}{
		{"one", []config.Config{named("acme", "")}, ""},
		{"one with webhooks", []config.Config{named("acme", ":8080")}, ""},
		{"two", []config.Config{named("acme", ""), named("globex", "")}, ""},
		{"unnamed", []config.Config{named("acme", ""), named("", "")}, "tenant 2 has no name"},
		{"twice", []config.Config{named("acme", ""), named("acme", "")}, `tenant "acme" is configured twice`},
		{"webhooks with two", []config.Config{named("acme", ":8080"), named("globex", ":8080")}, ""},
		{"webhooks with one token", []config.Config{shared(named("acme", ":8080")), shared(named("globex", ":8080"))},
			`tenants "acme" and "globex" have the same webhook token`},
		{"two listeners", []config.Config{named("acme", ":8080"), named("globex", ":8081")}, `tenant "globex" has webhook listener settings`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.cfgs)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want ErrConfig naming %q", err, tc.want)
			}
		})
	}
}
