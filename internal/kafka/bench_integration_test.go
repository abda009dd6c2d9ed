//go:build integration

package kafka

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Benchmarks against a real broker. Run with the test environment up:
//
//	. .testenv/env && go test -tags integration -run '^$' \
//	    -bench Integration -benchtime 1x ./internal/kafka/
//
// KAFKA_BROKERS is required; BENCH_MESSAGES sets the message count
// (default 100000).

func integrationBrokers(b *testing.B) []string {
	b.Helper()
	v := os.Getenv("KAFKA_BROKERS")
	if v == "" {
		b.Fatal("KAFKA_BROKERS is not set: start the test environment (scripts/testenv up) and source .testenv/env")
	}
	return strings.Split(v, ",")
}

func benchMessages(b *testing.B) int {
	if v := os.Getenv("BENCH_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("BENCH_MESSAGES=%q", v)
		}
		return n
	}
	return 100000
}

func integrationClient(b *testing.B, topic string, partitions int) *Client {
	b.Helper()
	c, err := New(Config{Brokers: integrationBrokers(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.EnsureTopics(b.Context(), []TopicSpec{{Name: topic, Partitions: partitions, ReplicationFactor: 1}}); err != nil {
		b.Fatal(err)
	}
	// The new topic's leaders must be known before timing starts.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, err := c.Partitions(b.Context(), topic); err == nil && n == partitions {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("topic %s not ready", topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// BenchmarkIntegrationPublishVsRaw publishes the same messages through
// Publish and through a bare kafka-go Writer with identical settings, in one
// run, and reports both rates and their ratio (goal: ratio ≥ 0.8).
func BenchmarkIntegrationPublishVsRaw(b *testing.B) {
	ctx := b.Context()
	n := benchMessages(b)
	const perCall = 5000
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	oursTopic, rawTopic := "bench.publish.ours."+suffix, "bench.publish.raw."+suffix
	c := integrationClient(b, oursTopic, 6)
	integrationClient(b, rawTopic, 6)

	raw := &kafkago.Writer{
		Addr:         kafkago.TCP(integrationBrokers(b)...),
		Balancer:     &kafkago.Murmur2Balancer{},
		MaxAttempts:  c.cfg.MaxAttempts,
		BatchSize:    c.cfg.BatchSize,
		BatchBytes:   c.cfg.BatchBytes,
		BatchTimeout: c.cfg.BatchTimeout,
		WriteTimeout: c.cfg.WriteTimeout,
		RequiredAcks: kafkago.RequireAll,
		Transport:    &kafkago.Transport{ClientID: "bench-raw"},
	}
	defer raw.Close()

	value := make([]byte, 600)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	ours := make([]Message, n)
	rawMsgs := make([]kafkago.Message, n)
	for i := range ours {
		key := fmt.Appendf(nil, "acme:%d", i)
		ours[i] = Message{Topic: oursTopic, Key: key, Value: value}
		rawMsgs[i] = kafkago.Message{Topic: rawTopic, Key: key, Value: value}
	}
	// Warm both paths (connections, metadata).
	if err := c.Publish(ctx, ours[:10]); err != nil {
		b.Fatal(err)
	}
	if err := raw.WriteMessages(ctx, rawMsgs[:10]...); err != nil {
		b.Fatal(err)
	}

	// Interleave the two sides call by call, alternating which goes first,
	// so that load from elsewhere on the machine and the broker's state
	// (page cache, segment rolls) hit both equally.
	var oursDur, rawDur time.Duration
	b.ResetTimer()
	for b.Loop() {
		for k, i := 0, 0; i < n; k, i = k+1, i+perCall {
			j := min(i+perCall, n)
			runOurs := func() {
				start := time.Now()
				if err := c.Publish(ctx, ours[i:j]); err != nil {
					b.Fatal(err)
				}
				oursDur += time.Since(start)
			}
			runRaw := func() {
				start := time.Now()
				if err := raw.WriteMessages(ctx, rawMsgs[i:j]...); err != nil {
					b.Fatal(err)
				}
				rawDur += time.Since(start)
			}
			if k%2 == 0 {
				runOurs()
				runRaw()
			} else {
				runRaw()
				runOurs()
			}
		}
	}
	oursRate := float64(b.N*n) / oursDur.Seconds()
	rawRate := float64(b.N*n) / rawDur.Seconds()
	b.ReportMetric(oursRate, "ours_msgs/s")
	b.ReportMetric(rawRate, "raw_msgs/s")
	b.ReportMetric(oursRate/rawRate, "ratio")
}

// BenchmarkIntegrationReadToEnd writes 100k small records (BENCH_MESSAGES)
// once and measures a full ReadToEnd of them: ns/op is one state rebuild
// read (goal: ≤ 5 s for 100k entities).
func BenchmarkIntegrationReadToEnd(b *testing.B) {
	ctx := b.Context()
	n := benchMessages(b)
	topic := "bench.read." + strconv.FormatInt(time.Now().UnixNano(), 36)
	c := integrationClient(b, topic, 6)
	value := make([]byte, 200)
	msgs := make([]Message, 0, 5000)
	for i := 0; i < n; i++ {
		msgs = append(msgs, Message{Topic: topic, Key: fmt.Appendf(nil, "acme:%d", i), Value: value})
		if len(msgs) == cap(msgs) || i == n-1 {
			if err := c.Publish(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got := 0
		if err := c.ReadToEnd(ctx, topic, func(Record) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/rebuild")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
