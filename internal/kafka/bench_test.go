package kafka

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkPublish publishes 600-byte values in calls of 1000 messages to
// an in-process kfake broker. It is a harness, not a broker measurement;
// see BenchmarkIntegrationPublishVsRaw for the real one.
func BenchmarkPublish(b *testing.B) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	c, err := New(Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const perCall = 1000
	value := make([]byte, 600)
	msgs := make([]Message, perCall)
	for i := range msgs {
		msgs[i] = Message{Topic: "bench", Key: fmt.Appendf(nil, "acme:%d", i), Value: value}
	}
	b.SetBytes(int64(perCall * (600 + 8)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Publish(b.Context(), msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perCall)/b.Elapsed().Seconds(), "msgs/s")
}
