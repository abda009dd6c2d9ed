package refresh

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// The journal on the service's Kafka client (kfake): the topic is created compacted with one
// partition, records written are read back after a "restart" (a new client), the last record
// per person wins and a tombstone forgets the person.
func TestJournalOnKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	client := func() *kafka.Client {
		c, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kc := client()
	j := &Journal{Tenant: "acme", Prefix: "personio", Producer: kc, Reader: kc, Admin: kc,
		Spec: kafka.TopicSpec{Configs: kafka.DefaultTopicConfigs()}}
	if got, err := j.Read(ctx); err != nil || len(got) != 0 {
		t.Fatalf("first Read = %v, %v; want none (the topic is created empty)", got, err)
	}
	v := func(h int) Verification {
		return Verification{VerifiedAt: t0.Add(time.Duration(h) * time.Hour).UTC(), UpdatedAt: t0.UTC()}
	}
	if err := j.Write(ctx, []Record{{"1", v(1)}, {"2", v(2)}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Write(ctx, []Record{{"1", v(3)}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Forget(ctx, []string{"2"}); err != nil {
		t.Fatal(err)
	}
	kc2 := client()
	j2 := &Journal{Tenant: "acme", Prefix: "personio", Producer: kc2, Reader: kc2, Admin: kc2,
		Spec: kafka.TopicSpec{Configs: kafka.DefaultTopicConfigs()}}
	got, err := j2.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Record{{"1", v(3)}}; !slices.EqualFunc(got, want, func(a, b Record) bool {
		return a.PersonID == b.PersonID && a.VerifiedAt.Equal(b.VerifiedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
	}) {
		t.Fatalf("Read after a restart = %+v, want %+v", got, want)
	}
}
