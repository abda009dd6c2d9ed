package kafka_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

func Example() {
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1)) // any Kafka cluster
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	c, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	// A compacted topic: cleanup.policy=compact, 7 days of visible history.
	if err := c.EnsureTopics(ctx, []kafka.TopicSpec{{Name: "example.persons", Partitions: 3, ReplicationFactor: 1}}); err != nil {
		panic(err)
	}
	err = c.Publish(ctx, []kafka.Message{
		{Topic: "example.persons", Key: []byte("acme:1"), Value: []byte("v1")},
		{Topic: "example.persons", Key: []byte("acme:1"), Value: []byte("v2")},
		{Topic: "example.persons", Key: []byte("acme:2"), Value: []byte("v1")},
		{Topic: "example.persons", Key: []byte("acme:2")}, // tombstone
	})
	if err != nil {
		panic(err)
	}

	// Replaying the topic yields the current state: last value per key wins,
	// a tombstone removes the key.
	state := map[string]string{}
	err = c.ReadToEnd(ctx, "example.persons", func(r kafka.Record) error {
		if r.Value == nil {
			delete(state, string(r.Key))
		} else {
			state[string(r.Key)] = string(r.Value)
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(state)
	// Output: map[acme:1:v2]
}
