package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

// After compaction offsets have gaps and tombstones are gone; ReadToEnd
// still ends promptly and replaying it yields the current state.
func TestReadToEndAfterCompaction(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t)
	c, _, _ := newClient(t, cluster)
	const topic = "acme.persons"
	if err := c.EnsureTopics(ctx, []TopicSpec{{
		Name: topic, Partitions: 2, ReplicationFactor: 1,
		Configs: map[string]string{"min.compaction.lag.ms": "0", "delete.retention.ms": "0"},
	}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for round := range 5 {
		var msgs []Message
		for k := range 20 {
			if round == 4 && k%2 == 1 {
				continue // the odd keys keep their round-3 value: interior gaps
			}
			key := fmt.Sprintf("acme:%d", k)
			msgs = append(msgs, Message{Topic: topic, Key: []byte(key), Value: fmt.Appendf(nil, "r%d", round)})
			want[key] = fmt.Sprintf("r%d", round)
		}
		if round == 2 { // delete three keys; later rounds re-create none of them
			for _, k := range []string{"acme:1", "acme:2", "acme:3"} {
				msgs = append(msgs, Message{Topic: topic, Key: []byte(k), Value: nil})
			}
		}
		if round > 2 {
			msgs = slicesDeleteKeys(msgs, "acme:1", "acme:2", "acme:3")
		}
		if err := c.Publish(ctx, msgs); err != nil { // one batch per partition and round
			t.Fatal(err)
		}
	}
	for _, k := range []string{"acme:1", "acme:2", "acme:3"} {
		delete(want, k)
	}
	before := countRecords(t, c, topic)
	cluster.Compact()
	after := countRecords(t, c, topic)
	if after >= before {
		t.Fatalf("compaction removed nothing (%d records before, %d after)", before, after)
	}

	state := map[string]string{}
	gaps := false
	last := map[int]int64{}
	if err := c.ReadToEnd(ctx, topic, func(r Record) error {
		if prev, ok := last[r.Partition]; (ok && r.Offset > prev+1) || (!ok && r.Offset > 0) {
			gaps = true
		}
		last[r.Partition] = r.Offset
		if r.Value == nil {
			delete(state, string(r.Key))
		} else {
			state[string(r.Key)] = string(r.Value)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !gaps {
		t.Fatal("no offset gaps after compaction")
	}
	if !maps.Equal(state, want) {
		t.Fatalf("replayed state %v, want %v", state, want)
	}
}

func slicesDeleteKeys(msgs []Message, keys ...string) []Message {
	out := msgs[:0]
	for _, m := range msgs {
		drop := false
		for _, k := range keys {
			if string(m.Key) == k {
				drop = true
			}
		}
		if !drop {
			out = append(out, m)
		}
	}
	return out
}

func countRecords(t *testing.T, c *Client, topic string) int {
	t.Helper()
	n := 0
	if err := c.ReadToEnd(t.Context(), topic, func(Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Tail from the end skips what was there before and delivers what comes.
func TestTailFromEnd(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(2, "t"))
	c, _, _ := newClient(t, cluster)
	if err := c.Publish(t.Context(), []Message{{Topic: "t", Key: []byte("k"), Value: []byte("old")}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Tail(ctx, "t", false, func(r Record) error {
			select {
			case got <- string(r.Value):
			default:
			}
			cancel()
			return nil
		})
	}()
	// Publish until the tail sees something: it starts at an unknown moment.
	var first string
	for first == "" {
		if err := c.Publish(t.Context(), []Message{{Topic: "t", Key: []byte("k"), Value: []byte("new")}}); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-got:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if first != "new" {
		t.Fatalf("tail from the end delivered %q first", first)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Tail = %v, want context.Canceled", err)
	}
}

func TestPublishToMissingTopic(t *testing.T) {
	cluster := newCluster(t)
	c, _, _ := newClient(t, cluster)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := c.Publish(ctx, []Message{{Topic: "missing", Key: []byte("k"), Value: []byte("v")}})
	if err == nil || Acked(err, 0) {
		t.Fatalf("Publish to a missing topic = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Publish waited for the deadline: %v", err)
	}
	if n, _ := c.Partitions(t.Context(), "missing"); n != 0 {
		t.Fatal("the topic was auto-created")
	}
}

// Right after a broker restart a partition has no leader for a moment. A read then waits and
// asks again, as a publish does, instead of failing the sync that reads (the erasures before
// every sync, the state at start-up); a refusal that no wait fixes still fails at once.
func TestReadToEndWaitsForALeader(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t)
	c, _, _ := newClient(t, cluster)
	const topic = "acme.erasures"
	if err := c.EnsureTopics(ctx, []TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, []Message{{Topic: topic, Key: []byte("acme:1"), Value: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	hits := refuseOffsets(cluster, topic, kerr.LeaderNotAvailable.Code, 3)
	if n := countRecords(t, c, topic); n != 1 {
		t.Fatalf("read %d records while the leader came back, want 1", n)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d offsets requests refused, want 3", hits.Load())
	}

	denied := refuseOffsets(cluster, topic, kerr.TopicAuthorizationFailed.Code, -1)
	err := c.ReadToEnd(ctx, topic, func(Record) error { return nil })
	if !errors.Is(err, kafkago.TopicAuthorizationFailed) {
		t.Fatalf("read of a topic that may not be read = %v", err)
	}
	if denied.Load() != 1 {
		t.Fatalf("a refusal no wait fixes was asked %d times, want 1", denied.Load())
	}
}
