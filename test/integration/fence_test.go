//go:build integration

package integration

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// TestIntegrationFence is the takeover of a tenant against the real broker. Producer A owns the
// tenant's transactional id and publishes versions 1-3 of a key. It writes versions 4 and 5 in
// its next transaction and stops before the commit (an instance paused by SIGSTOP between its
// writes and its commit). Meanwhile the tenant moves: producer B is constructed with the same
// transactional id, which must fence A and abort A's open transaction before it returns; B
// then reads the topic (the state rebuild) and publishes versions 4-6 from what it read. When
// A wakes up its commit fails with ErrFenced, not retryable, and so does every later call. A
// read_committed read sees none of A's aborted records and all of B's: versions 1-6 of the
// key, each once, without a gap.
func TestIntegrationFence(t *testing.T) {
	env := Env(t)
	kc, topic, id, cfg := fenceSetup(t, 3)
	var err error
	version := func(key string, v int) kafka.Message {
		return kafka.Message{Topic: topic, Key: []byte(key), Value: []byte(strconv.Itoa(v)),
			Headers: []kafka.Header{{Key: "event_id", Value: fmt.Appendf(nil, "%s@%d", key, v)}}}
	}

	var a, b *kafka.TxnProducer
	paused := false
	a, err = kafka.NewTxnProducer(t.Context(), cfg, id, kafka.TxnBeforeCommit(func() {
		if !paused {
			return
		}
		// A's records are written, its transaction open. A read that starts now waits for
		// the transaction to end (it may hold back records others committed after it began)
		// and then skips A's records, which the takeover aborts.
		read := make(chan []string, 1)
		go func() {
			var open []string
			if err := kc.ReadToEnd(t.Context(), topic, func(r kafka.Record) error {
				open = append(open, string(r.Key)+"="+string(r.Value))
				return nil
			}); err != nil {
				t.Errorf("read with a transaction open: %v", err)
			}
			read <- open
		}()
		// The tenant moves now.
		var err error
		if b, err = kafka.NewTxnProducer(t.Context(), cfg, id); err != nil {
			t.Errorf("the new owner: %v", err)
		}
		if open, want := <-read, []string{"acme:1=1", "acme:1=2", "acme:1=3"}; !slices.Equal(open, want) {
			t.Errorf("read with a transaction open: %q, want %q", open, want)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if err := a.Publish(t.Context(), []kafka.Message{version("acme:1", 1), version("acme:1", 2), version("acme:1", 3)}); err != nil {
		t.Fatalf("the first owner's publish: %v", err)
	}

	paused = true
	err = a.Publish(t.Context(), []kafka.Message{version("acme:1", 4), version("acme:1", 5), version("acme:2", 1)})
	if b == nil {
		t.Fatal("the new owner was not constructed")
	}
	t.Cleanup(func() { _ = b.Close() })
	if !errors.Is(err, kafka.ErrFenced) {
		t.Fatalf("the old owner's commit after the takeover = %v, want ErrFenced", err)
	}
	if kafka.Retryable(err) {
		t.Fatalf("a fenced publish is retryable: %v", err)
	}
	t.Logf("the old owner's commit: %v", err)

	// B rebuilds the key's state from the topic: the last committed version.
	last := 0
	if err := kc.ReadToEnd(t.Context(), topic, func(r kafka.Record) error {
		if string(r.Key) == "acme:1" {
			last, _ = strconv.Atoi(string(r.Value))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last != 3 {
		t.Fatalf("the new owner read version %d as the last, want 3", last)
	}
	if err := b.Publish(t.Context(), []kafka.Message{version("acme:1", 4), version("acme:1", 5), version("acme:1", 6)}); err != nil {
		t.Fatalf("the new owner's publish: %v", err)
	}
	paused = false
	if err := a.Publish(t.Context(), []kafka.Message{version("acme:1", 7)}); !errors.Is(err, kafka.ErrFenced) {
		t.Fatalf("the old owner's next publish = %v, want ErrFenced", err)
	}

	// A commit becomes visible to read_committed readers once the coordinator has written its
	// markers, a moment after Publish returned: read until B's last version is there.
	var got []string
	for attempt := 0; ; attempt++ {
		got = got[:0]
		if err := kc.ReadToEnd(t.Context(), topic, func(r kafka.Record) error {
			got = append(got, string(r.Key)+"="+string(r.Value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, "acme:1=6") || attempt == 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want := []string{"acme:1=1", "acme:1=2", "acme:1=3", "acme:1=4", "acme:1=5", "acme:1=6"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed read %q, want %q: versions once each, none of the fenced owner's aborted records", got, want)
	}

	// The independent consumer (librdkafka, isolation.level=read_committed) agrees.
	out := runVerifier(t, env, nil, "--brokers", strings.Join(env.Brokers, ","), "--topic", topic)
	var verified []string
	for line := range strings.Lines(string(out)) {
		var r struct {
			Key   string `json:"key"`
			Value string `json:"value"` // base64 without a registry
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("verifier output %q: %v", line, err)
		}
		v, err := base64.StdEncoding.DecodeString(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		verified = append(verified, r.Key+"="+string(v))
	}
	if want := []string{"acme:1=1", "acme:1=2", "acme:1=3", "acme:1=4", "acme:1=5", "acme:1=6"}; !slices.Equal(verified, want) {
		t.Fatalf("the Python verifier read %q, want %q", verified, want)
	}
}

// TestIntegrationFenceBeforeWrite: an instance paused after it checked that it owns the tenant
// and before it writes (group membership alone cannot stop that write). The tenant moved
// meanwhile; the old owner's write fails with ErrFenced and nothing of it is visible.
func TestIntegrationFenceBeforeWrite(t *testing.T) {
	kc, topic, id, cfg := fenceSetup(t, 2)
	var owners []*kafka.TxnProducer
	for range 2 {
		p, err := kafka.NewTxnProducer(t.Context(), cfg, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		owners = append(owners, p)
	}
	old, current := owners[0], owners[1]
	err := old.Publish(t.Context(), []kafka.Message{{Topic: topic, Key: []byte("acme:1"), Value: []byte("zombie")}})
	if !errors.Is(err, kafka.ErrFenced) || kafka.Retryable(err) {
		t.Fatalf("the old owner's write after the takeover = %v, want ErrFenced, not retryable", err)
	}
	t.Logf("the old owner's write: %v", err)
	if err := current.Publish(t.Context(), []kafka.Message{{Topic: topic, Key: []byte("acme:1"), Value: []byte("current")}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for attempt := 0; ; attempt++ { // until the commit's markers are written
		got = got[:0]
		if err := kc.ReadToEnd(t.Context(), topic, func(r kafka.Record) error {
			got = append(got, string(r.Value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, "current") || attempt == 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !slices.Equal(got, []string{"current"}) {
		t.Fatalf("read_committed read %q, want [current]", got)
	}
}

// fenceSetup returns a client of the run's broker, a new topic of that many partitions, a
// tenant's transactional id of a new group, and the producers' Kafka settings.
func fenceSetup(t *testing.T, partitions int) (kc *kafka.Client, topic, id string, cfg kafka.Config) {
	t.Helper()
	env := Env(t)
	cfg = kafka.Config{Brokers: env.Brokers}
	kc, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Close() })
	topic = UniqueTopic(t, "fence")
	if err := kc.EnsureTopics(t.Context(), []kafka.TopicSpec{{Name: topic, Partitions: partitions, ReplicationFactor: 1}}); err != nil {
		t.Fatal(err)
	}
	return kc, topic, kafka.TxnID(UniqueTopic(t, "group"), "acme"), cfg
}
