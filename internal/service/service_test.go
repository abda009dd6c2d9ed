package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/admin"
	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// fakeRunner records the kinds it ran and when; block, when set, is waited on by each run.
type fakeRunner struct {
	mu      sync.Mutex
	kinds   []syncrun.Kind
	at      []time.Duration
	start   time.Time
	outcome syncrun.Outcome
	block   chan struct{}
	started chan struct{}
	ctxErr  error
	// errs, when set, is the error of each run in turn (nil: the outcome); runs after the last
	// repeat it.
	errs []error
}

func (f *fakeRunner) Run(ctx context.Context, kind syncrun.Kind, _ ...syncrun.RunOption) (syncrun.Result, error) {
	f.mu.Lock()
	f.kinds = append(f.kinds, kind)
	f.at = append(f.at, time.Since(f.start))
	block, started := f.block, f.started
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			f.mu.Lock()
			f.ctxErr = ctx.Err()
			f.mu.Unlock()
			return syncrun.Result{Kind: kind, Outcome: syncrun.Failed}, ctx.Err()
		}
	}
	if n := len(f.errs); n > 0 {
		f.mu.Lock()
		err := f.errs[min(len(f.kinds), n)-1]
		f.mu.Unlock()
		if err != nil {
			return syncrun.Result{Kind: kind, Outcome: syncrun.Failed}, err
		}
	}
	out := f.outcome
	if out == "" {
		out = syncrun.Complete
	}
	return syncrun.Result{Kind: kind, Outcome: out}, nil
}

func TestScheduleOrder(t *testing.T) {
	tests := []struct {
		name     string
		schedule Schedule
		outcome  syncrun.Outcome
		until    time.Duration
		want     []syncrun.Kind
		wantAt   []time.Duration
	}{
		{
			name:     "full then incrementals then full",
			schedule: Schedule{Full: time.Hour, Incremental: 20 * time.Minute},
			until:    time.Hour + time.Minute,
			want:     []syncrun.Kind{syncrun.Full, syncrun.Incremental, syncrun.Incremental, syncrun.Full},
			wantAt:   []time.Duration{0, 20 * time.Minute, 40 * time.Minute, time.Hour},
		},
		{
			name:     "no incrementals",
			schedule: Schedule{Full: time.Hour},
			until:    2*time.Hour + time.Minute,
			want:     []syncrun.Kind{syncrun.Full, syncrun.Full, syncrun.Full},
			wantAt:   []time.Duration{0, time.Hour, 2 * time.Hour},
		},
		{
			name:     "failed full sync is retried after the retry interval, then twice as long",
			schedule: Schedule{Full: time.Hour, Incremental: 30 * time.Minute, Retry: 10 * time.Minute},
			outcome:  syncrun.Partial,
			until:    35 * time.Minute,
			want:     []syncrun.Kind{syncrun.Full, syncrun.Full, syncrun.Full},
			wantAt:   []time.Duration{0, 10 * time.Minute, 30 * time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &fakeRunner{start: time.Now(), outcome: tt.outcome}
				s := NewScheduler(r, tt.schedule, nil)
				stop := make(chan struct{})
				done := make(chan error)
				go func() { done <- s.Loop(stop, context.Background()) }()
				time.Sleep(tt.until)
				close(stop)
				if err := <-done; err != nil {
					t.Fatalf("Loop: %v", err)
				}
				if len(r.kinds) != len(tt.want) {
					t.Fatalf("ran %v at %v, want %v", r.kinds, r.at, tt.want)
				}
				for i := range tt.want {
					if r.kinds[i] != tt.want[i] || r.at[i] != tt.wantAt[i] {
						t.Errorf("run %d: %s at %v, want %s at %v", i, r.kinds[i], r.at[i], tt.want[i], tt.wantAt[i])
					}
				}
			})
		})
	}
}

func newLifecycle(t *testing.T, r Runner, timeout time.Duration) (*Lifecycle, *bool) {
	t.Helper()
	l := &Lifecycle{Scheduler: NewScheduler(r, Schedule{Full: time.Hour}, nil), ShutdownTimeout: timeout}
	srv, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(),
		Ready: []admin.Check{{Name: "shutdown", Func: l.Stopping}}})
	if err != nil {
		t.Fatal(err)
	}
	l.Admin = srv
	closed := new(bool)
	l.Close = func() error { *closed = true; return nil }
	return l, closed
}

func TestShutdownLetsInFlightSyncFinish(t *testing.T) {
	r := &fakeRunner{start: time.Now(), block: make(chan struct{}), started: make(chan struct{}, 1)}
	l, closed := newLifecycle(t, r, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Serve(ctx) }()
	<-r.started // the first full sync is running
	resp, err := http.Get("http://" + l.Admin.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz before stop: %d", resp.StatusCode)
	}
	cancel() // SIGTERM
	for l.Stopping(context.Background()) == nil {
		time.Sleep(time.Millisecond) // wait for step 1
	}
	// Still serving while the sync drains, and no longer ready.
	resp, err = http.Get("http://" + l.Admin.Addr() + "/readyz")
	if err != nil {
		t.Fatalf("admin server stopped before the sync finished: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz while stopping: %d, want 503", resp.StatusCode)
	}
	if *closed {
		t.Error("clients closed while a sync is in flight")
	}
	close(r.block) // the publish finishes
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if r.ctxErr != nil {
		t.Errorf("in-flight sync was cancelled: %v", r.ctxErr)
	}
	if !*closed {
		t.Error("clients not closed")
	}
	if len(r.kinds) != 1 {
		t.Errorf("a new sync started after stop: %v", r.kinds)
	}
}

func TestShutdownAbandonsSyncAfterTimeout(t *testing.T) {
	r := &fakeRunner{start: time.Now(), block: make(chan struct{}), started: make(chan struct{}, 1)}
	l, closed := newLifecycle(t, r, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Serve(ctx) }()
	<-r.started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v; an abandoned sync is an orderly stop", err)
	}
	if !errors.Is(r.ctxErr, context.Canceled) {
		t.Errorf("sync was not cancelled after the timeout: %v", r.ctxErr)
	}
	if !*closed {
		t.Error("clients not closed")
	}
}

func TestTopicTemplate(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka.MinCompactionLag = 48 * time.Hour
	cfg.Kafka.TopicPartitions = 12
	cfg.Kafka.ReplicationFactor = 3
	spec := TopicTemplate(cfg)
	if spec.Partitions != 12 || spec.ReplicationFactor != 3 || spec.Name != "" {
		t.Errorf("spec %+v", spec)
	}
	cfg.Kafka.MaxCompactionLag = 72 * time.Hour
	cfg.Kafka.SegmentRoll = time.Hour
	cfg.Kafka.DeleteRetention = 24 * time.Hour
	spec = TopicTemplate(cfg)
	for k, want := range map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "172800000",
		"max.compaction.lag.ms": "259200000", "segment.ms": "3600000", "delete.retention.ms": "86400000"} {
		if spec.Configs[k] != want {
			t.Errorf("%s = %q, want %q", k, spec.Configs[k], want)
		}
	}
	if got := Topics(cfg); len(got) != 3 || got[0] != "personio.persons" || got[1] != "personio.compensations" || got[2] != "personio.employments" {
		t.Errorf("topics %v", got)
	}
}

func TestRunnerConfig(t *testing.T) {
	def := RunnerConfig(config.Default())
	if !def.EmploymentDetails || def.PersonChains != syncrun.DefaultPersonChains || def.CompensationSubWindows != syncrun.DefaultCompensationSubWindows {
		t.Errorf("defaults: employment details %v, chains %d, sub-windows %d", def.EmploymentDetails, def.PersonChains, def.CompensationSubWindows)
	}
	cfg := config.Default()
	cfg.Personio.Tenant = "acme"
	cfg.Kafka.TopicPrefix = "hr"
	cfg.Sync.CompensationLookbackMonths = 5
	cfg.Sync.DeleteGuardRatio = 0.3
	cfg.Sync.DeleteGuardOverride = true
	cfg.Sync.EmploymentDetails = false
	cfg.Sync.PersonListChains = 12
	cfg.Sync.CompensationSubWindows = 2
	cfg.Sync.PublishBatchSize = 300
	rc := RunnerConfig(cfg)
	if rc.Tenant != "acme" || rc.TopicPrefix != "hr" || rc.LookbackMonths != 5 || rc.DeleteGuardRatio != 0.3 ||
		!rc.DeleteGuardOverride || rc.EmploymentDetails || rc.PersonChains != 12 || rc.CompensationSubWindows != 2 || rc.PublishBatchSize != 300 {
		t.Errorf("runner config does not follow the settings: %+v", rc)
	}
	// A tenant's entity selection (TENANTS_FILE entities, SYNC_ENTITIES) reaches its runner,
	// and the rolling refresh of employments follows it.
	for _, tt := range []struct {
		entities []change.Entity
		details  bool
		want     []change.Entity
	}{
		{nil, true, change.Entities()},
		{nil, false, []change.Entity{change.Persons, change.Compensations}},
		{[]change.Entity{change.Compensations, change.Persons}, true, []change.Entity{change.Persons, change.Compensations}},
		{[]change.Entity{change.Persons, change.Employments}, true, []change.Entity{change.Persons, change.Employments}},
	} {
		cfg := config.Default()
		cfg.Personio.Tenant = "acme"
		cfg.Sync.Entities, cfg.Sync.EmploymentDetails = tt.entities, tt.details
		rc := RunnerConfig(cfg)
		employments := slices.Contains(tt.want, change.Employments)
		if !slices.Equal(rc.Entities, tt.want) || rc.EmploymentDetails != employments {
			t.Errorf("entities %v, details %v: runner entities %v, details %v; want %v", tt.entities, tt.details, rc.Entities, rc.EmploymentDetails, tt.want)
		}
		r, err := NewRefresh(cfg, RunnerEmployments{}, nil, prometheus.NewRegistry())
		if err != nil || (r != nil) != employments {
			t.Errorf("entities %v, details %v: refresh %v (%v), want one: %v", tt.entities, tt.details, r != nil, err, employments)
		}
	}
}

func TestLoopStopsOnFatalErrors(t *testing.T) {
	refused := fmt.Errorf("sync: %w: %w", syncrun.ErrCredential,
		&personio.AuthError{Endpoint: "POST /v2/auth/token", Status: 400, Reason: "token request refused"})
	incompatible := fmt.Errorf("sync: publish: register schema of persons: %w", codec.ErrIncompatible)
	other := errors.New("kafka: broker unreachable")
	// A registry that lost the schemas and takes them back no more: restoring it heals a
	// running service, so it is retried, not fatal, though its cause is a 409.
	staleID := fmt.Errorf("sync: publish: register schema of persons: %w", &codec.SchemaIDError{
		Subject: "personio.persons-value", ID: 1, Err: &codec.RegistryError{Op: "register", Status: http.StatusConflict}})
	tests := []struct {
		name      string
		errs      []error
		wantRuns  int   // runs before Loop returned (or by the end of the window)
		wantFatal error // nil: Loop still running at the end
	}{
		{"credential refused twice in a row", []error{refused, refused}, 2, personio.ErrAuth},
		{"credential refused once, then fixed", []error{refused, nil}, 5, nil},
		{"refusals not in a row", []error{refused, other, refused, nil}, 5, nil},
		{"incompatible schema at once", []error{incompatible}, 1, codec.ErrIncompatible},
		{"other errors are retried", []error{other}, 5, nil},
		{"a stale schema id the registry will not replace is retried", []error{staleID}, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &fakeRunner{start: time.Now(), errs: tt.errs}
				s := NewScheduler(r, Schedule{Full: time.Hour, Incremental: 10 * time.Minute}, nil)
				stop := make(chan struct{})
				done := make(chan error, 1)
				go func() { done <- s.Loop(stop, context.Background()) }()
				time.Sleep(45 * time.Minute) // runs at 0, 10, 20, 30 and 40 minutes
				close(stop)
				err := <-done
				if tt.wantFatal == nil {
					if err != nil {
						t.Fatalf("Loop: %v, want it to keep retrying", err)
					}
				} else if !IsFatal(err) || !errors.Is(err, tt.wantFatal) {
					t.Fatalf("Loop: %v, want a fatal error matching %v", err, tt.wantFatal)
				}
				if len(r.kinds) != tt.wantRuns {
					t.Errorf("%d runs, want %d", len(r.kinds), tt.wantRuns)
				}
			})
		})
	}
}

func TestServeStopsOnFatalError(t *testing.T) {
	refused := fmt.Errorf("sync: %w", &personio.AuthError{Endpoint: "POST /v2/auth/token", Status: 400})
	r := &fakeRunner{start: time.Now(), errs: []error{refused}}
	l, closed := newLifecycle(t, r, time.Minute)
	l.Scheduler = NewScheduler(r, Schedule{Full: time.Hour, Retry: time.Millisecond}, nil)
	err := l.Serve(t.Context())
	if !IsFatal(err) || !errors.Is(err, personio.ErrAuth) || !strings.Contains(err.Error(), "PERSONIO_CLIENT_SECRET") {
		t.Fatalf("Serve: %v, want a fatal error naming the setting", err)
	}
	if len(r.kinds) != FatalAuthFailures {
		t.Errorf("%d syncs before stopping, want %d", len(r.kinds), FatalAuthFailures)
	}
	if !*closed {
		t.Error("clients not closed")
	}
	if l.Stopping(t.Context()) == nil {
		t.Error("still ready after a fatal error")
	}
}
