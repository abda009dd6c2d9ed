package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newTxnProducer(t *testing.T, cluster *kfake.Cluster, id string, reg prometheus.Registerer, opts ...TxnOption) *TxnProducer {
	t.Helper()
	p, err := NewTxnProducer(t.Context(), Config{Brokers: cluster.ListenAddrs(), Registerer: reg,
		Logger: slog.New(slog.DiscardHandler)}, id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// kgo's key partitioner hashes like the Java client (and like Client.Publish's balancer).
func TestTxnPartitionerMatchesJava(t *testing.T) {
	keys := [][]byte{[]byte(""), []byte("a"), []byte("acme:1"), []byte("acme:12345"), []byte("ümlaut:ß")}
	for i := range 500 {
		keys = append(keys, fmt.Appendf(nil, "tenant-%d:%d", i%7, i*7919))
	}
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 2, 3, 6, 7, 12, 50, 64} {
		for _, k := range keys {
			if got, want := part.Partition(&kgo.Record{Key: k}, n), javaPartition(k, n); got != want {
				t.Fatalf("key %q, %d partitions: kgo %d, Java %d", k, n, got, want)
			}
		}
	}
}

// A committed transaction is read back as published: keys in their Java partition, values,
// headers, tombstones as nil values, in order per key.
func TestTxnPublishCommits(t *testing.T) {
	const parts = 6
	cluster := newCluster(t, kfake.SeedTopics(parts, "acme.persons"))
	c, _, _ := newClient(t, cluster)
	reg := prometheus.NewRegistry()
	p := newTxnProducer(t, cluster, TxnID("g", "acme"), reg)
	var msgs []Message
	for i := range 40 {
		key := fmt.Sprintf("acme:%d", i%10)
		m := Message{Topic: "acme.persons", Key: []byte(key), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []Header{{Key: "event_id", Value: fmt.Appendf(nil, "e%d", i)}}}
		if i == 35 {
			m.Value = nil // a tombstone of acme:5
		}
		msgs = append(msgs, m)
	}
	if err := p.Publish(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	byKey := map[string][]string{}
	n := 0
	if err := c.ReadToEnd(t.Context(), "acme.persons", func(r Record) error {
		n++
		if want := javaPartition(r.Key, parts); r.Partition != want {
			t.Errorf("key %s in partition %d, Java puts it in %d", r.Key, r.Partition, want)
		}
		v := string(r.Value)
		if r.Value == nil {
			v = "<nil>"
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "event_id" {
			t.Errorf("key %s: headers %v", r.Key, r.Headers)
		}
		byKey[string(r.Key)] = append(byKey[string(r.Key)], v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(msgs) {
		t.Fatalf("read %d records, want %d", n, len(msgs))
	}
	if got := byKey["acme:5"]; !slices.Equal(got, []string{"v5", "v15", "v25", "<nil>"}) {
		t.Fatalf("acme:5 read as %q", got)
	}
	if got := testutil.ToFloat64(p.metrics.commits); got != 1 {
		t.Fatalf("commits = %v, want 1", got)
	}
	if got := testutil.ToFloat64(p.metrics.written.WithLabelValues("acme.persons")); got != 40 {
		t.Fatalf("messages written = %v, want 40", got)
	}
}

// The takeover: B acquires the transactional id while A has written records in a transaction
// it has not committed (an instance paused between its writes and its commit). A's commit then
// fails with ErrFenced, not retryable, and every later call of A does too; readers see none of
// A's records of that transaction and all of B's.
func TestTxnTakeoverFencesTheOldOwner(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(3, "acme.persons"))
	c, _, _ := newClient(t, cluster)
	regA := prometheus.NewRegistry()
	id := TxnID("g", "acme")
	a := newTxnProducer(t, cluster, id, regA)
	if err := a.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("a-committed")}}); err != nil {
		t.Fatal(err)
	}
	var b *TxnProducer
	a.beforeCommit = func() {
		// A's records are written, its transaction open: B takes over now.
		b = newTxnProducer(t, cluster, id, nil)
	}
	err := a.Publish(t.Context(), []Message{
		{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("a-zombie")},
		{Topic: "acme.persons", Key: []byte("acme:2"), Value: []byte("a-zombie")},
	})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("the old owner's commit after the takeover = %v, want ErrFenced", err)
	}
	if Retryable(err) || Acked(err, 0) {
		t.Fatalf("a fenced publish is retryable (%v) or acknowledged (%v)", Retryable(err), Acked(err, 0))
	}
	if err := b.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("b-1")},
		{Topic: "acme.persons", Key: []byte("acme:3"), Value: []byte("b-3")}}); err != nil {
		t.Fatalf("the new owner's publish: %v", err)
	}
	a.beforeCommit = nil
	if err := a.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:9"), Value: []byte("a-later")}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old owner's next publish = %v, want ErrFenced", err)
	}
	if err := a.Acquire(t.Context()); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old owner's Acquire = %v, want ErrFenced (only a new producer takes the id back)", err)
	}
	got := readValues(t, c, "acme.persons")
	if want := []string{"a-committed", "b-1", "b-3"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed readers see %q, want %q", got, want)
	}
	if n := testutil.ToFloat64(a.metrics.fenced); n != 1 {
		t.Fatalf("personio_cdc_kafka_fenced_total = %v, want 1", n)
	}
	if n := testutil.ToFloat64(a.metrics.aborts.WithLabelValues("fenced")); n != 1 {
		t.Fatalf("aborts{reason=fenced} = %v, want 1", n)
	}
}

// Constructing the new owner aborts the transaction the old owner left open (it stopped
// between writes and commit and never came back), so that the state rebuild after the takeover
// reads everything committed and does not stop at the open transaction's first offset.
func TestTxnAcquireAbortsTheOpenTransaction(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "acme.persons"))
	c, _, _ := newClient(t, cluster)
	id := TxnID("g", "acme")
	old, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.TransactionalID(id),
		kgo.DefaultProduceTopic("acme.persons"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	openTxn(t, old, "zombie")
	b := newTxnProducer(t, cluster, id, nil)
	if err := b.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if got := readValues(t, c, "acme.persons"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after the takeover readers see %q, want [b]", got)
	}
	if err := old.EndTransaction(t.Context(), kgo.TryCommit); err == nil {
		t.Fatal("the old owner committed after the takeover")
	}
}

// A cancelled publish aborts its transaction: none of its messages becomes visible, and the
// producer publishes again afterwards.
func TestTxnCancelledPublishAborts(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(2, "acme.persons"))
	c, _, _ := newClient(t, cluster)
	p := newTxnProducer(t, cluster, TxnID("g", "acme"), nil)
	ctx, cancel := context.WithCancel(t.Context())
	p.beforeCommit = cancel
	err := p.Publish(ctx, []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("cancelled")}})
	if err == nil || errors.Is(err, ErrFenced) || Acked(err, 0) {
		t.Fatalf("a publish cancelled before its commit = %v", err)
	}
	p.beforeCommit = nil
	if err := p.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("next")}}); err != nil {
		t.Fatalf("publish after an aborted one: %v", err)
	}
	if got := readValues(t, c, "acme.persons"); !slices.Equal(got, []string{"next"}) {
		t.Fatalf("readers see %q, want [next]", got)
	}
}

// A tenant released and owned again registers its metrics on the same registerer again.
func TestTxnMetricsReRegister(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "acme.persons"))
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"tenant": "acme"}, reg)
	first := newTxnProducer(t, cluster, TxnID("g", "acme"), wrapped)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newTxnProducer(t, cluster, TxnID("g", "acme"), wrapped)
	if got := testutil.ToFloat64(second.metrics.acquired); got != 2 {
		t.Fatalf("acquired = %v after two producers, want 2 on one series", got)
	}
}

func TestTxnProducerValidates(t *testing.T) {
	_, err := NewTxnProducer(t.Context(), Config{}, "", TxnTimeout(-1))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"brokers", "transactional id", "transaction timeout"} {
		if !strings.Contains(strings.ToLower(err.Error()), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// An instance paused after it checked that it owns the tenant and before it writes: the
// tenant moved meanwhile, so its write fails with ErrFenced and nothing of it is visible.
func TestTxnWriteAfterTakeoverIsFenced(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(2, "acme.persons"))
	c, _, _ := newClient(t, cluster)
	id := TxnID("g", "acme")
	a := newTxnProducer(t, cluster, id, nil)
	b := newTxnProducer(t, cluster, id, nil)
	err := a.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("zombie")}})
	if !errors.Is(err, ErrFenced) || Retryable(err) {
		t.Fatalf("the old owner's write after the takeover = %v, want ErrFenced, not retryable", err)
	}
	if err := b.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if got := readValues(t, c, "acme.persons"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("readers see %q, want [b]", got)
	}
}

// A topic that does not exist is not created by publishing to it: the call fails, nothing of
// it is visible, and the producer goes on with the next call.
func TestTxnPublishToMissingTopic(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "acme.persons"))
	c, _, _ := newClient(t, cluster)
	p := newTxnProducer(t, cluster, TxnID("g", "acme"), nil)
	err := p.Publish(t.Context(), []Message{
		{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("lost")},
		{Topic: "missing", Key: []byte("acme:1"), Value: []byte("v")},
	})
	if err == nil || errors.Is(err, ErrFenced) || Acked(err, 0) {
		t.Fatalf("publish to a missing topic = %v", err)
	}
	if n, _ := c.Partitions(t.Context(), "missing"); n != 0 {
		t.Fatal("the topic was auto-created")
	}
	if err := p.Publish(t.Context(), []Message{{Topic: "acme.persons", Key: []byte("acme:1"), Value: []byte("next")}}); err != nil {
		t.Fatalf("publish after a failed one: %v", err)
	}
	if got := readValues(t, c, "acme.persons"); !slices.Equal(got, []string{"next"}) {
		t.Fatalf("readers see %q, want [next]", got)
	}
}

// Closing a producer, fenced or not, leaves no goroutine of kgo behind.
func TestTxnNoGoroutineLeak(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "t"))
	a := newTxnProducer(t, cluster, "g.leak", nil)
	if err := a.Publish(t.Context(), keyedMessages("t", 10)); err != nil {
		t.Fatal(err)
	}
	b := newTxnProducer(t, cluster, "g.leak", nil)
	if err := a.Publish(t.Context(), keyedMessages("t", 10)); !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced publish = %v", err)
	}
	_ = a.Close()
	_ = b.Close()
	var stacks string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "franz-go/pkg/kgo.") && !strings.Contains(stacks, "internal/kafka.(*TxnProducer)") {
			return
		}
	}
	t.Fatalf("goroutines left after Close:\n%s", stacks)
}
