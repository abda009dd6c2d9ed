package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// failPartition makes the cluster answer produce requests for partition p of
// topic with errCode, the first times requests (all when times < 0).
func failPartition(cluster *kfake.Cluster, topic string, p int32, errCode int16, times int32) *atomic.Int32 {
	var n atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		hit := false
		for _, t := range pr.Topics {
			for _, part := range t.Partitions {
				if t.Topic == topic && part.Partition == p {
					hit = true
				}
			}
		}
		if !hit || (times >= 0 && n.Load() >= times) {
			return nil, nil, false
		}
		n.Add(1)
		cluster.KeepControl()
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, part := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = part.Partition
				rp.ErrorCode = errCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &n
}

func keyedMessages(topic string, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Topic: topic, Key: fmt.Appendf(nil, "acme:%d", i), Value: []byte("v")}
	}
	return msgs
}

func TestPublishRetriesTransientPartitionError(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t, kfake.SeedTopics(3, "t"))
	c, _, _ := newClient(t, cluster)
	hits := failPartition(cluster, "t", 1, kerr.NotEnoughReplicas.Code, 2)
	msgs := keyedMessages("t", 60)
	if err := c.Publish(ctx, msgs); err != nil {
		t.Fatalf("Publish = %v, want success after retries", err)
	}
	if hits.Load() != 2 {
		t.Fatalf("injected %d failures, want 2", hits.Load())
	}
	n := 0
	if err := c.ReadToEnd(ctx, "t", func(Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(msgs) {
		t.Fatalf("read %d records, want %d (each exactly once)", n, len(msgs))
	}
}

func TestPublishReportsFailedMessages(t *testing.T) {
	ctx := t.Context()
	cluster := newCluster(t, kfake.SeedTopics(3, "t"))
	c, _, _ := newClient(t, cluster, func(cfg *Config) { cfg.MaxAttempts = 1 })
	failPartition(cluster, "t", 2, kerr.TopicAuthorizationFailed.Code, -1)
	msgs := keyedMessages("t", 60)
	err := c.Publish(ctx, msgs)
	var pe *PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("Publish = %v, want *PublishError", err)
	}
	wantFailed := 0
	for i, m := range msgs {
		inFailing := javaPartition(m.Key, 3) == 2
		if inFailing {
			wantFailed++
		}
		if Acked(err, i) == inFailing {
			t.Fatalf("message %d (partition %d): acked = %v", i, javaPartition(m.Key, 3), Acked(err, i))
		}
	}
	if len(pe.Failed) != wantFailed || wantFailed == 0 {
		t.Fatalf("%d failed, want %d", len(pe.Failed), wantFailed)
	}
	if Retryable(err) {
		t.Fatal("authorization failure classified retryable")
	}
	if got := testutil.ToFloat64(c.metrics.writeErrors.WithLabelValues("t", "authorization")); got != float64(wantFailed) {
		t.Fatalf("write_errors_total{reason=authorization} = %v, want %d", got, wantFailed)
	}
	if got := testutil.ToFloat64(c.metrics.written.WithLabelValues("t")); got != float64(len(msgs)-wantFailed) {
		t.Fatalf("messages_written_total = %v, want %d", got, len(msgs)-wantFailed)
	}
}

func TestRetryDecisionKeepsKeyOrder(t *testing.T) {
	retriable := kafkago.NotEnoughReplicas
	fatal := kafkago.MessageSizeTooLarge
	msg := func(key string) Message { return Message{Topic: "t", Key: []byte(key)} }
	// A1 B1 A2 C1 A3
	msgs := []Message{msg("A"), msg("B"), msg("A"), msg("C"), msg("A")}
	tests := []struct {
		name        string
		failed      map[int]error // failed for good in earlier rounds
		failedNow   map[int]error
		round       int
		wantRetry   []int
		wantReorder []int // failed with ErrWouldReorder
		wantFatal   []int // failed with their own error
	}{
		{name: "later same key acked", failedNow: map[int]error{0: retriable}, wantReorder: []int{0}},
		{name: "suffix of a key retried in order", failedNow: map[int]error{2: retriable, 4: retriable}, wantRetry: []int{2, 4}},
		{name: "whole key and others", failedNow: map[int]error{0: retriable, 1: retriable, 2: retriable, 4: retriable}, wantRetry: []int{0, 1, 2, 4}},
		{name: "fatal stops the key", failedNow: map[int]error{2: fatal, 4: retriable}, wantFatal: []int{2}, wantReorder: []int{4}},
		{name: "earlier round failed the key", failed: map[int]error{2: fatal}, failedNow: map[int]error{4: retriable, 3: retriable}, wantReorder: []int{4}, wantRetry: []int{3}},
		{name: "out of rounds", failedNow: map[int]error{3: retriable}, round: 2, wantFatal: []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{cfg: Config{PublishRetries: 2}}
			failed := map[int]error{}
			for i, e := range tt.failed {
				failed[i] = e
			}
			retry := c.retryable(msgs, failed, tt.failedNow, tt.round)
			if fmt.Sprint(retry) != fmt.Sprint(tt.wantRetry) && !(len(retry) == 0 && len(tt.wantRetry) == 0) {
				t.Fatalf("retry = %v, want %v", retry, tt.wantRetry)
			}
			for _, i := range tt.wantReorder {
				if !errors.Is(failed[i], ErrWouldReorder) {
					t.Errorf("message %d: %v, want ErrWouldReorder", i, failed[i])
				}
			}
			for _, i := range tt.wantFatal {
				if failed[i] == nil || errors.Is(failed[i], ErrWouldReorder) {
					t.Errorf("message %d: %v, want its own error", i, failed[i])
				}
			}
			if want := len(tt.failed) + len(tt.wantReorder) + len(tt.wantFatal); len(failed) != want {
				t.Errorf("%d failed for good, want %d: %v", len(failed), want, failed)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{kafkago.NotLeaderForPartition, true},
		{kafkago.RequestTimedOut, true},
		{fmt.Errorf("wrapped: %w", kafkago.LeaderNotAvailable), true},
		{fmt.Errorf("kafka.(*Client).Produce: %w", protocol.NewTopicError("t", protocol.ErrNoLeader)), true},
		{protocol.ErrNoPartition, true},
		{kafkago.TopicAuthorizationFailed, false},
		{kafkago.MessageSizeTooLarge, false},
		{kafkago.WriteErrors{nil, kafkago.NotEnoughReplicas}, true},
		{kafkago.WriteErrors{kafkago.NotEnoughReplicas, kafkago.InvalidTopic}, false},
		{&PublishError{Failed: map[int]error{0: kafkago.NotEnoughReplicas}, Total: 1}, true},
		{ErrClosed, false},
		{errors.New("something else"), false},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestEnsureTopicsNotAllowedToCreate(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "exists"))
	c, _, _ := newClient(t, cluster)
	cluster.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		r := req.(*kmsg.CreateTopicsRequest)
		resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic = tp.Topic
			rt.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	// An existing topic needs no creation: fine.
	if err := c.EnsureTopics(t.Context(), []TopicSpec{{Name: "exists"}}); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
	// A missing one that may not be created: an error naming it.
	err := c.EnsureTopics(t.Context(), []TopicSpec{{Name: "exists"}, {Name: "acme.persons"}})
	if !errors.Is(err, kafkago.ClusterAuthorizationFailed) || !strings.Contains(err.Error(), "acme.persons") {
		t.Fatalf("err = %v, want ClusterAuthorizationFailed naming acme.persons", err)
	}
}

// A topic EnsureTopics created is usable when it returns: it waits while the new partitions'
// leaders are not ready yet, and gives up on an error that will not go away.
func TestEnsureTopicsWaitsForNewTopics(t *testing.T) {
	cluster := newCluster(t)
	c, _, _ := newClient(t, cluster)
	hits := refuseOffsets(cluster, "acme.persons", kerr.NotLeaderForPartition.Code, 3)
	if err := c.EnsureTopics(t.Context(), []TopicSpec{{Name: "acme.persons", Partitions: 3, ReplicationFactor: 1}}); err != nil {
		t.Fatalf("EnsureTopics = %v", err)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d offsets requests refused, want 3: EnsureTopics did not wait for the new topic", hits.Load())
	}
	if err := c.ReadToEnd(t.Context(), "acme.persons", func(Record) error { return nil }); err != nil {
		t.Fatalf("reading the new topic: %v", err)
	}

	refuseOffsets(cluster, "acme.denied", kerr.TopicAuthorizationFailed.Code, -1)
	err := c.EnsureTopics(t.Context(), []TopicSpec{{Name: "acme.denied", Partitions: 1, ReplicationFactor: 1}})
	if !errors.Is(err, kafkago.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "acme.denied") {
		t.Fatalf("EnsureTopics of a topic that may not be read = %v", err)
	}
}

func TestReasonLabels(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{context.Canceled, "canceled"},
		{context.DeadlineExceeded, "timeout"},
		{kafkago.RequestTimedOut, "timeout"},
		{kafkago.NotLeaderForPartition, "not_leader"},
		{kafkago.UnknownTopicOrPartition, "unknown_topic"},
		{kafkago.TopicAuthorizationFailed, "authorization"},
		{kafkago.MessageSizeTooLarge, "message_too_large"},
		{kafkago.NotEnoughReplicas, "not_enough_replicas"},
		{kafkago.NetworkException, "broker_retriable"},
		{kafkago.InvalidTopic, "broker_fatal"},
		{fmt.Errorf("x: %w", ErrWouldReorder), "would_reorder"},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "network"},
		{errors.New("odd"), "other"},
	}
	for _, tt := range tests {
		if got := reason(tt.err); got != tt.want {
			t.Errorf("reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// holdProduce makes the cluster hold every produce request until release is closed; arrived
// receives once the first is held.
func holdProduce(t *testing.T, cluster *kfake.Cluster) (arrived <-chan struct{}, release func()) {
	first := make(chan struct{})
	gate := make(chan struct{})
	var once, closeOnce sync.Once
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		once.Do(func() { close(first) })
		cluster.SleepControl(func() { <-gate })
		return nil, nil, false
	})
	release = func() { closeOnce.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return first, release
}

func TestPublishCancelled(t *testing.T) {
	t.Run("messages in flight get their verdict", func(t *testing.T) {
		cluster := newCluster(t, kfake.SeedTopics(3, "t"))
		c, _, _ := newClient(t, cluster)
		arrived, release := holdProduce(t, cluster)
		ctx, cancel := context.WithCancel(t.Context())
		msgs := keyedMessages("t", 60)
		res := make(chan error, 1)
		go func() { res <- c.Publish(ctx, msgs) }()
		<-arrived
		cancel()
		select {
		case err := <-res:
			t.Fatalf("Publish returned %v on the cancel, with its messages still in flight", err)
		case <-time.After(100 * time.Millisecond):
		}
		release()
		if err := <-res; err != nil {
			t.Fatalf("Publish = %v, want every message acknowledged after the cancel", err)
		}
		if n := countRecords(t, c, "t"); n != len(msgs) {
			t.Fatalf("read %d records, want %d", n, len(msgs))
		}
	})
	t.Run("the wait is bounded", func(t *testing.T) {
		cluster := newCluster(t, kfake.SeedTopics(3, "t"))
		c, _, _ := newClient(t, cluster, func(cfg *Config) { cfg.WriteTimeout = 200 * time.Millisecond })
		arrived, _ := holdProduce(t, cluster)
		ctx, cancel := context.WithCancel(t.Context())
		res := make(chan error, 1)
		go func() { res <- c.Publish(ctx, keyedMessages("t", 60)) }()
		<-arrived
		cancel()
		select {
		case err := <-res:
			var pe *PublishError
			if !errors.Is(err, context.Canceled) || errors.As(err, &pe) {
				t.Fatalf("Publish = %v, want the cancel with no verdict", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Publish still waiting 10 s after the cancel")
		}
	})
}

// refuseOffsets makes cluster answer offsets requests for topic with errCode, the first times
// requests (all when times < 0); it returns the count of refused ones.
func refuseOffsets(cluster *kfake.Cluster, topic string, errCode int16, times int32) *atomic.Int32 {
	var n atomic.Int32
	cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		r := req.(*kmsg.ListOffsetsRequest)
		if len(r.Topics) != 1 || r.Topics[0].Topic != topic || (times >= 0 && n.Load() >= times) {
			return nil, nil, false
		}
		n.Add(1)
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = topic
		for _, p := range r.Topics[0].Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = errCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	return &n
}
