//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestIntegrationRestartKafka checks the environment's broker restart: acknowledged records
// survive a SIGTERM restart, and the broker takes writes again on the same address afterwards.
func TestIntegrationRestartKafka(t *testing.T) {
	env := Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	const partitions = 3
	topic := UniqueTopic(t, "restart")
	CreateTopic(t, topic, partitions, map[string]string{"cleanup.policy": "compact"})

	produce := func(from, to int) {
		t.Helper()
		w := &kafka.Writer{
			Addr: kafka.TCP(env.Brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond,
			MaxAttempts: 20, WriteBackoffMin: 100 * time.Millisecond, WriteBackoffMax: time.Second,
		}
		defer func() { _ = w.Close() }()
		msgs := make([]kafka.Message, 0, to-from)
		for i := from; i < to; i++ {
			msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("acme:%d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce %d..%d: %v", from, to, err)
		}
	}

	produce(0, 100)
	RestartKafka(t)
	produce(100, 200)

	got := map[string]string{}
	for _, m := range readAll(ctx, t, env, topic, partitions) {
		got[string(m.Key)] = string(m.Value)
	}
	if len(got) != 200 {
		t.Fatalf("read %d keys after the restart, want 200", len(got))
	}
	for i := range 200 {
		if k, want := fmt.Sprintf("acme:%d", i), fmt.Sprintf("v%d", i); got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}
