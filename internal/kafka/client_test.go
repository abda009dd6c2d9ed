package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newClient(t *testing.T, cluster *kfake.Cluster, mut ...func(*Config)) (*Client, *prometheus.Registry, *logBuffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	cfg := Config{
		Brokers:    cluster.ListenAddrs(),
		Registerer: reg,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, reg, logs
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, all must appear; none = valid
	}{
		{name: "minimal", cfg: Config{Brokers: []string{"localhost:9092"}}},
		{name: "full", cfg: Config{
			Brokers: []string{"a:9092", "b:9093"}, Compression: "zstd",
			SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"},
			TLS:  TLSConfig{Enabled: true, InsecureSkipVerify: true},
		}},
		{name: "no brokers", cfg: Config{}, want: []string{"brokers"}},
		{name: "bad broker", cfg: Config{Brokers: []string{"localhost"}}, want: []string{`"localhost" is not host:port`}},
		{name: "everything wrong", cfg: Config{
			Brokers: []string{"x:1"}, Compression: "brotli", BatchSize: -1, DialTimeout: -1,
			SASL: SASLConfig{Mechanism: "GSSAPI"},
			TLS:  TLSConfig{CAFile: "/nonexistent"},
		}, want: []string{"compression", "batch size", "dial timeout", "SASL mechanism", "TLS is not enabled"}},
		{name: "sasl without password", cfg: Config{Brokers: []string{"x:1"}, SASL: SASLConfig{Mechanism: "PLAIN", Username: "u"}}, want: []string{"SASL password"}},
		{name: "credentials without mechanism", cfg: Config{Brokers: []string{"x:1"}, SASL: SASLConfig{Username: "u"}}, want: []string{"no SASL mechanism"}},
		{name: "missing CA file", cfg: Config{Brokers: []string{"x:1"}, TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}}, want: []string{"CA file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
				return
			}
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnsureTopics(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t)
	c, _, logs := newClient(t, cluster)
	specs := []TopicSpec{
		{Name: "acme.persons", Partitions: 3, ReplicationFactor: 1},
		{Name: "acme.history", Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "-1"}},
	}
	if err := c.EnsureTopics(ctx, specs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic      string
		partitions int
		configs    map[string]string
	}{
		{"acme.persons", 3, map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "604800000", "delete.retention.ms": "604800000"}},
		{"acme.history", 2, map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "min.compaction.lag.ms": "604800000"}},
	}
	for _, tt := range tests {
		n, err := c.Partitions(ctx, tt.topic)
		if err != nil || n != tt.partitions {
			t.Fatalf("%s: partitions = %d, %v; want %d", tt.topic, n, err, tt.partitions)
		}
		got, err := c.TopicConfigs(ctx, tt.topic)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.configs {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.topic, k, got[k], v)
			}
		}
	}

	// Again, with a different partition count: no error, no change, a warning.
	specs[0].Partitions = 5
	if err := c.EnsureTopics(ctx, specs); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	if n, _ := c.Partitions(ctx, "acme.persons"); n != 3 {
		t.Fatalf("partitions changed to %d", n)
	}
	if !strings.Contains(logs.String(), "partition count differs") {
		t.Fatalf("no drift warning in logs:\n%s", logs)
	}
}

func TestEnsureTopicsConfigDrift(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t, kfake.SeedTopics(1, "seeded"))
	c, _, logs := newClient(t, cluster)
	// The seeded topic has the default cleanup.policy=delete.
	if err := c.EnsureTopics(ctx, []TopicSpec{{Name: "seeded"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "config=cleanup.policy") {
		t.Fatalf("no config drift warning in logs:\n%s", logs)
	}
}

func TestPublishAndReadToEnd(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t)
	c, reg, _ := newClient(t, cluster)
	const topic, partitions = "acme.compensations", 4
	if err := c.EnsureTopics(ctx, []TopicSpec{{Name: topic, Partitions: partitions, ReplicationFactor: 1}}); err != nil {
		t.Fatal(err)
	}

	var msgs []Message
	for v := range 3 {
		for k := range 40 {
			msgs = append(msgs, Message{
				Topic:   topic,
				Key:     fmt.Appendf(nil, "acme:%d", k),
				Value:   fmt.Appendf(nil, "v%d-%d", k, v),
				Headers: []Header{{Key: "op", Value: []byte("u")}},
			})
		}
	}
	msgs = append(msgs, Message{Topic: topic, Key: []byte("acme:3"), Value: nil}) // tombstone
	// Publish in two calls to check offsets keep growing in order.
	if err := c.Publish(ctx, msgs[:50]); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, msgs[50:]); err != nil {
		t.Fatal(err)
	}

	var got []Record
	if err := c.ReadToEnd(ctx, topic, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d records, want %d", len(got), len(msgs))
	}
	lastOffset := map[int]int64{}
	byKey := map[string][]Record{}
	for _, r := range got {
		if prev, ok := lastOffset[r.Partition]; ok && r.Offset <= prev {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
		}
		lastOffset[r.Partition] = r.Offset
		if want := javaPartition(r.Key, partitions); r.Partition != want {
			t.Fatalf("key %s in partition %d, Java would use %d", r.Key, r.Partition, want)
		}
		byKey[string(r.Key)] = append(byKey[string(r.Key)], r)
	}
	// Per key, values arrive in publish order; the tombstone reads as nil.
	for k := range 40 {
		key := fmt.Sprintf("acme:%d", k)
		recs := byKey[key]
		var vals []string
		for _, r := range recs {
			if r.Value == nil {
				vals = append(vals, "<nil>")
				continue
			}
			vals = append(vals, string(r.Value))
			if len(r.Headers) != 1 || r.Headers[0].Key != "op" || string(r.Headers[0].Value) != "u" {
				t.Fatalf("headers = %v", r.Headers)
			}
		}
		want := []string{fmt.Sprintf("v%d-0", k), fmt.Sprintf("v%d-1", k), fmt.Sprintf("v%d-2", k)}
		if k == 3 {
			want = append(want, "<nil>")
		}
		if !slices.Equal(vals, want) {
			t.Fatalf("%s: values %v, want %v", key, vals, want)
		}
	}

	if n := testutil.ToFloat64(c.metrics.written.WithLabelValues(topic)); n != float64(len(msgs)) {
		t.Fatalf("messages_written_total = %v, want %d", n, len(msgs))
	}
	if n, err := testutil.GatherAndCount(reg, "personio_cdc_kafka_write_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("duration histogram: %d series, %v", n, err)
	}
	if b := testutil.ToFloat64(c.metrics.bytes.WithLabelValues(topic)); b <= 0 {
		t.Fatalf("bytes_written_total = %v", b)
	}
}

func TestReadToEndEmptyAndUnknownTopic(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t, kfake.SeedTopics(3, "empty"))
	c, _, _ := newClient(t, cluster)
	calls := 0
	if err := c.ReadToEnd(ctx, "empty", func(Record) error { calls++; return nil }); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("fn called %d times on an empty topic", calls)
	}
	err := c.ReadToEnd(ctx, "missing", func(Record) error { return nil })
	if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: err = %v", err)
	}
}

func TestReadToEndStopsOnFnError(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t, kfake.SeedTopics(2, "t"))
	c, _, _ := newClient(t, cluster)
	var msgs []Message
	for i := range 100 {
		msgs = append(msgs, Message{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("x")})
	}
	if err := c.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err := c.ReadToEnd(ctx, "t", func(Record) error {
		calls++
		if calls == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 5 {
		t.Fatalf("err = %v after %d calls, want stop after 5", err, calls)
	}
}

func TestContextCancellation(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(2, "t"))
	c, _, _ := newClient(t, cluster)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	msgs := []Message{{Topic: "t", Key: []byte("k"), Value: []byte("v")}}
	err := c.Publish(ctx, msgs)
	if !errors.Is(err, context.Canceled) || Acked(err, 0) || Retryable(err) {
		t.Fatalf("Publish(cancelled) = %v", err)
	}
	if n := testutil.ToFloat64(c.metrics.writeErrors.WithLabelValues("t", "canceled")); n != 1 {
		t.Fatalf("write_errors_total{reason=canceled} = %v, want 1", n)
	}
	if n := countRecords(t, c, "t"); n != 0 {
		t.Fatalf("a Publish cancelled before it began wrote %d records", n)
	}
	if err := c.ReadToEnd(ctx, "t", func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadToEnd(cancelled) = %v", err)
	}

	// Tail delivers existing records, then returns ctx.Err() when cancelled.
	if err := c.Publish(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithCancel(t.Context())
	var seen int
	err = c.Tail(tctx, "t", true, func(r Record) error {
		seen++
		tcancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || seen != 1 {
		t.Fatalf("Tail = %v after %d records", err, seen)
	}
}

func TestPingAndClose(t *testing.T) {
	cluster := newCluster(t)
	c, _, _ := newClient(t, cluster)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close = %v", err)
	}
	if err := c.Publish(t.Context(), []Message{{Topic: "t"}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
}
