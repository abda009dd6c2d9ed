package service

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// refreshStack is the service as run builds it (Build from a config, every default but the
// endpoints and an unthrottled budget) against a simulated Personio, kfake and srfake.
func refreshStack(t *testing.T, persons int) (*Stack, *personiotest.Server) {
	t.Helper()
	rate := personiotest.Rate{PerMinute: 60000, Burst: 200}
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: persons, Seed: 7, RateLimit: rate, CompensationRateLimit: rate})
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cfg := config.Default()
	cfg.Personio.BaseURL = sim.URL()
	cfg.Personio.ClientID = personiotest.DefaultClientID
	cfg.Personio.ClientSecret = config.Secret(personiotest.DefaultClientSecret)
	cfg.Personio.Tenant = "acme"
	cfg.Personio.RateLimitPerMinute, cfg.Personio.RateBurst = 60000, 200
	cfg.Personio.CompensationRateLimitPerMinute, cfg.Personio.CompensationRateBurst = 60000, 200
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.TopicPartitions, cfg.Kafka.ReplicationFactor = 3, 1
	cfg.SchemaRegistry.URL = reg.URL()
	s, err := Build(cfg, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, sim
}

// TestRefreshPublishesWhatSyncsMiss is the refresh with the service's own runner, as run wires
// it: the scheduled syncs (with the refresh's options) read no employments and delete those of
// a person gone from a complete persons listing; an employment change that moves no person's
// updated_at is missed by them and published by the refresh batch that reads that person; the
// verification records written let a new planner resume without reading anyone again.
func TestRefreshPublishesWhatSyncsMiss(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, sim := refreshStack(t, 20)
	r, err := NewRefresh(s.Config, s.Employments, s.Kafka, prometheus.NewRegistry())
	if err != nil || r == nil {
		t.Fatalf("NewRefresh with the defaults = %v, %v; want the refresh on", r, err)
	}
	cdc := codec.New(s.Registry)
	topic := publish.Topic(s.Config.Kafka.TopicPrefix, change.Employments)
	check := func(when string, wantTruth bool) {
		t.Helper()
		rp, err := oracle.ReplayTopic(ctx, s.Kafka, cdc, topic, change.Employments)
		if err != nil {
			t.Fatalf("%s: replay %s: %v", when, topic, err)
		}
		want, err := oracle.Employments(sim.Truth(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if d := oracle.Diff(rp.State[change.Employments], want); (d == "") != wantTruth {
			t.Fatalf("%s: the employments topic matches the truth: %v, want %v (%s)", when, d == "", wantTruth, d)
		}
	}
	sync := func(kind syncrun.Kind) {
		t.Helper()
		if res, err := s.Runner.Run(ctx, kind, r.SyncOptions...); err != nil || res.Outcome != syncrun.Complete {
			t.Fatalf("%s sync: %s %v", kind, res.Outcome, err)
		}
	}
	batch := func() []string {
		t.Helper()
		persons, ok := r.Reader.Persons()
		if !ok || len(persons) == 0 {
			t.Fatalf("Persons = %d, %v after a sync", len(persons), ok)
		}
		ids := make([]string, len(persons))
		for i, p := range persons {
			ids[i] = p.ID
		}
		verified, err := r.Reader.RefreshEmployments(ctx, ids)
		if err != nil || !slices.Equal(verified, ids) {
			t.Fatalf("RefreshEmployments = %d of %d verified, %v", len(verified), len(ids), err)
		}
		return ids
	}

	sync(syncrun.Full)
	if rp, err := oracle.ReplayTopic(ctx, s.Kafka, cdc, topic, change.Employments); err != nil || len(rp.Messages) != 0 {
		t.Fatalf("a full sync with the refresh's options published %d employment records (%v); want none", len(rp.Messages), err)
	}
	batch()
	check("after the first refresh of everyone", true)

	changed := sim.Churn(personiotest.Churn{EmploymentChanges: 3, CostCenterChanges: 2})
	if len(changed.EmploymentChanges)+len(changed.CostCenterChanges) == 0 {
		t.Fatal("the churn changed no employment")
	}
	sync(syncrun.Incremental)
	check("after an incremental sync", false) // the changes moved no updated_at: missed
	sync(syncrun.Full)
	check("after a full sync", false) // which reads no employment any more
	batch()
	check("after a refresh batch", true)

	gone := sim.Churn(personiotest.Churn{Deletions: 1})
	if len(gone.Deletions) != 1 {
		t.Fatalf("churn deleted %v", gone.Deletions)
	}
	sync(syncrun.Full)
	check("after a full sync that found a person gone", true) // their employments deleted

	// The records of a batch, read back by a new planner after a restart: nobody is due at
	// once, the rotation goes on at its pace.
	if _, err := r.Journal.Read(ctx); err != nil { // creates the topic, as the first restore does
		t.Fatal(err)
	}
	persons, _ := r.Reader.Persons()
	r.Planner.Observe(time.Now(), persons, true)
	plan := r.Planner.Next(time.Now(), time.Hour)
	verified, err := r.Reader.RefreshEmployments(ctx, plan.Persons)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Journal.Write(ctx, r.Planner.Done(time.Now(), plan, verified)); err != nil {
		t.Fatal(err)
	}
	read, err := r.Journal.Read(ctx)
	if err != nil || len(read) != len(plan.Persons) {
		t.Fatalf("journal Read = %d records, %v; want %d", len(read), err, len(plan.Persons))
	}
	again, err := NewRefresh(s.Config, s.Employments, s.Kafka, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	again.Planner.Restore(read)
	again.Planner.Observe(time.Now(), persons, true)
	if st := again.Planner.StatusAt(time.Now()); st.Priority != len(persons)-len(read) || st.Restored != len(read) {
		t.Fatalf("after a restart: %+v; want %d restored and only the %d others first", st, len(read), len(persons)-len(read))
	}
}
