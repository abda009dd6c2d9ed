//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// TestIntegrationPublishCancelled cancels a Publish while the real broker is taking its
// messages, at a few points of the call. Whatever a cancel interrupted, what Publish reports as
// acknowledged must be exactly what the topic holds once it returned, and nothing may land
// afterwards: a sync that records less than what landed re-sends events, one that records more
// loses them.
func TestIntegrationPublishCancelled(t *testing.T) {
	env := Env(t)
	kc, err := kafka.New(kafka.Config{Brokers: env.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Close() })

	const partitions, n = 3, 5000
	value := make([]byte, 2048)
	interrupted := 0
	for _, after := range []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		// Created through the client, so that its writer knows the topic at once.
		topic := UniqueTopic(t, "cancel")
		if err := kc.EnsureTopics(t.Context(), []kafka.TopicSpec{{Name: topic, Partitions: partitions, ReplicationFactor: 1}}); err != nil {
			t.Fatal(err)
		}
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Topic: topic, Key: fmt.Appendf(nil, "acme:%d", i), Value: value}
		}

		ctx, cancel := context.WithCancel(t.Context())
		res := make(chan error, 1)
		go func() { res <- kc.Publish(ctx, msgs) }()
		var err error
		select {
		case err = <-res:
			cancel()
			t.Logf("cancel after %v: Publish had already returned %v", after, err)
			continue
		case <-time.After(after):
			cancel()
			err = <-res
		}

		acked := 0
		var pe *kafka.PublishError
		switch {
		case err == nil:
			acked = n
			interrupted++
		case errors.As(err, &pe):
			for i := range msgs {
				if kafka.Acked(err, i) {
					acked++
				}
			}
			interrupted++
		case errors.Is(err, context.Canceled):
			// Nothing is known to be acknowledged: then nothing may be on the topic.
		default:
			t.Fatalf("cancel after %v: Publish = %v", after, err)
		}
		now := records(t, kc, topic)
		time.Sleep(time.Second) // time for stragglers to land
		later := records(t, kc, topic)
		t.Logf("cancel after %v: Publish = %v; %d acknowledged, the topic holds %d, a second later %d", after, err, acked, now, later)
		if now != acked || later != acked {
			t.Errorf("cancel after %v: Publish reported %d acknowledged; the topic held %d when it returned and %d a second later",
				after, acked, now, later)
		}
	}
	if interrupted == 0 {
		t.Fatal("no cancel landed while Publish was under way")
	}
}

// records counts the records of topic, read with the client that wrote them: its view of a
// topic it just created is current.
func records(t *testing.T, kc *kafka.Client, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	n := 0
	if err := kc.ReadToEnd(ctx, topic, func(kafka.Record) error { n++; return nil }); err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return n
}
