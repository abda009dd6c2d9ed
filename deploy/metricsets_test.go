package deploy

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/admin"
	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/metrics"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/refresh"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/internal/tenant"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// metricSets constructs every metric set of the service against rec, exactly as the service
// does, so that the dashboard and alert tests see the real names.
func metricSets(t *testing.T, rec prometheus.Registerer) {
	t.Helper()
	if _, err := personio.New(personio.Config{ClientID: "id", ClientSecret: "secret", Registerer: rec}); err != nil {
		t.Fatalf("personio client: %v", err)
	}
	kc, err := kafka.New(kafka.Config{Brokers: []string{"127.0.0.1:9"}, Registerer: rec})
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	_ = kc.Close()
	syncrun.NewMetrics(rec)
	sr, err := codec.NewRegistry("http://127.0.0.1:9", codec.WithRegisterer(rec))
	if err != nil {
		t.Fatalf("schema registry client: %v", err)
	}
	if _, err := tenant.New(tenant.Options{Kafka: kc, Registry: sr, Registerer: rec}, nil); err != nil {
		t.Fatalf("tenant manager: %v", err)
	}
	metrics.New(rec, metrics.BuildInfo{Version: "test"})
	service.NewScheduler(nil, service.Schedule{Full: time.Hour}, nil, service.WithRegisterer(rec))
	rc := refresh.DefaultConfig()
	rc.Registerer = rec
	if _, err := refresh.New(rc); err != nil {
		t.Fatalf("employment refresh: %v", err)
	}
	if _, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Registerer: rec}); err != nil {
		t.Fatalf("admin server: %v", err)
	}
	gc := config.Default()
	gc.Membership.GroupID = "personio-cdc"
	if _, err := group.New(service.GroupOptions(gc, nil, nopOwner{}, kc, rec, nil)); err != nil {
		t.Fatalf("consumer group: %v", err)
	}
}

// nopOwner is the consumer group's Owner in metricSets: the group is never run.
type nopOwner struct{}

func (nopOwner) Own(context.Context, []string) error { return nil }
func (nopOwner) Release([]string)                    {}

// recorder is a prometheus.Registerer that remembers the name of every metric described to it.
type recorder struct {
	names map[string]bool
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) describe(g prometheus.Gatherer) {
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		r.names[mf.GetName()] = true
	}
}

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqNameRE.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }
