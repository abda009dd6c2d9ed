//go:build integration

package integration

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/registry"
	"github.com/segmentio/kafka-go"
)

// smokeSchema covers the logical types the event contract relies on: an exact decimal, a date,
// a timestamp-millis and a nullable string.
const smokeSchema = `{
  "type": "record",
  "name": "SmokeRecord",
  "namespace": "com.github.personio_cdc.test",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "seq", "type": "long"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}},
    {"name": "effective_from", "type": {"type": "int", "logicalType": "date"}},
    {"name": "updated_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "nickname", "type": ["null", "string"], "default": null}
  ]
}`

type smokeRecord struct {
	ID            string    `avro:"id"`
	Seq           int64     `avro:"seq"`
	Amount        *big.Rat  `avro:"amount"`
	EffectiveFrom time.Time `avro:"effective_from"`
	UpdatedAt     time.Time `avro:"updated_at"`
	Nickname      *string   `avro:"nickname"`
}

// asVerified is r as the Python verifier renders it.
func (r smokeRecord) asVerified() map[string]any {
	m := map[string]any{
		"id":             r.ID,
		"seq":            json.Number(strconv.FormatInt(r.Seq, 10)),
		"amount":         r.Amount.FloatString(2),
		"effective_from": r.EffectiveFrom.Format(time.DateOnly),
		"updated_at":     r.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"nickname":       nil,
	}
	if r.Nickname != nil {
		m["nickname"] = *r.Nickname
	}
	return m
}

func smokeRecords(n int) []smokeRecord {
	base := time.Date(2024, 1, 31, 23, 59, 58, 123e6, time.UTC)
	recs := make([]smokeRecord, n)
	for i := range recs {
		// Cents chosen so that many amounts have trailing zeros and some are negative.
		cents := int64(i*104729%10_000_000) - 1_000_000
		r := smokeRecord{
			ID:            fmt.Sprintf("acme:%d", 100000+i),
			Seq:           int64(i) * 1_000_003,
			Amount:        new(big.Rat).SetFrac64(cents, 100),
			EffectiveFrom: time.Date(1990+i%40, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC),
			UpdatedAt:     base.Add(time.Duration(i) * 7919 * time.Millisecond),
		}
		if i%3 != 0 {
			nick := fmt.Sprintf("nick-%d-äöü", i)
			r.Nickname = &nick
		}
		recs[i] = r
	}
	return recs
}

// wire frames an Avro payload in the Confluent wire format.
func wire(id int, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

func TestIntegrationSmoke(t *testing.T) {
	env := Env(t)
	t.Logf("environment: %s", env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	const partitions = 6
	topic := UniqueTopic(t, "smoke")
	configs := map[string]string{
		"cleanup.policy":        "compact",
		"min.compaction.lag.ms": "604800000",
		"delete.retention.ms":   "604800000",
	}
	CreateTopic(t, topic, partitions, configs)

	t.Run("topic configs", func(t *testing.T) {
		names := make([]string, 0, len(configs))
		for k := range configs {
			names = append(names, k)
		}
		resp, err := env.Client().DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
			Resources: []kafka.DescribeConfigRequestResource{{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: names,
			}},
		})
		if err != nil {
			t.Fatalf("describe configs: %v", err)
		}
		got := map[string]string{}
		for _, res := range resp.Resources {
			if res.Error != nil {
				t.Fatalf("describe configs %s: %v", res.ResourceName, res.Error)
			}
			for _, e := range res.ConfigEntries {
				got[e.ConfigName] = e.ConfigValue
			}
		}
		if !reflect.DeepEqual(got, configs) {
			t.Errorf("topic configs = %v, want %v", got, configs)
		}
	})

	// Register the schema through the same client library the service uses.
	reg, err := registry.NewClient(env.RegistryURL)
	if err != nil {
		t.Fatalf("registry client: %v", err)
	}
	schemaID, schema, err := reg.CreateSchema(ctx, topic+"-value", smokeSchema)
	if err != nil {
		t.Fatalf("register schema: %v", err)
	}
	fetched, err := reg.GetSchema(ctx, schemaID)
	if err != nil {
		t.Fatalf("get schema %d: %v", schemaID, err)
	}
	if fetched.Fingerprint() != schema.Fingerprint() {
		t.Fatalf("registry returned a different schema for id %d", schemaID)
	}

	// Produce 1,000 records plus a tombstone for the first key.
	sent := smokeRecords(1000)
	msgs := make([]kafka.Message, 0, len(sent)+1)
	for i, r := range sent {
		payload, err := avro.Marshal(schema, r)
		if err != nil {
			t.Fatalf("marshal record %d: %v", i, err)
		}
		msgs = append(msgs, kafka.Message{
			Key:     []byte(r.ID),
			Value:   wire(schemaID, payload),
			Headers: []kafka.Header{{Key: "op", Value: []byte("c")}, {Key: "seq", Value: []byte(strconv.Itoa(i))}},
		})
	}
	tombstoneKey := sent[0].ID
	msgs = append(msgs, kafka.Message{Key: []byte(tombstoneKey), Value: nil,
		Headers: []kafka.Header{{Key: "op", Value: []byte("d")}}})

	w := &kafka.Writer{
		Addr:         kafka.TCP(env.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    200,
		BatchTimeout: 10 * time.Millisecond,
	}
	// Records for one key must stay in order (the tombstone comes last), so write in two calls.
	if err := w.WriteMessages(ctx, msgs[:len(sent)]...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := w.WriteMessages(ctx, msgs[len(sent):]...); err != nil {
		t.Fatalf("produce tombstone: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	// Read everything back with kafka-go: where each key landed, and the decoded values.
	landed := map[string]int{}
	var goRead []smokeRecord
	tombstones := 0
	for _, m := range readAll(ctx, t, env, topic, partitions) {
		key := string(m.Key)
		if p, ok := landed[key]; ok && p != m.Partition {
			t.Errorf("key %s landed on partitions %d and %d", key, p, m.Partition)
		}
		landed[key] = m.Partition
		if m.Value == nil {
			tombstones++
			if key != tombstoneKey {
				t.Errorf("unexpected tombstone for %s", key)
			}
			continue
		}
		if len(m.Value) < 5 || m.Value[0] != 0 {
			t.Fatalf("record %s/%d: not in the Confluent wire format", key, m.Offset)
		}
		if id := int(binary.BigEndian.Uint32(m.Value[1:5])); id != schemaID {
			t.Fatalf("record %s/%d: schema id %d, want %d", key, m.Offset, id, schemaID)
		}
		var r smokeRecord
		if err := avro.Unmarshal(schema, m.Value[5:], &r); err != nil {
			t.Fatalf("decode %s/%d: %v", key, m.Offset, err)
		}
		goRead = append(goRead, r)
	}
	if tombstones != 1 {
		t.Errorf("kafka-go read %d tombstones, want 1", tombstones)
	}
	if len(goRead) != len(sent) {
		t.Fatalf("kafka-go read %d records, want %d", len(goRead), len(sent))
	}
	byID := map[string]smokeRecord{}
	for _, r := range goRead {
		byID[r.ID] = r
	}
	for _, want := range sent {
		got, ok := byID[want.ID]
		if !ok {
			t.Errorf("kafka-go: record %s missing", want.ID)
			continue
		}
		if !reflect.DeepEqual(got.asVerified(), want.asVerified()) || got.Amount.Cmp(want.Amount) != 0 {
			t.Errorf("kafka-go: record %s = %v, want %v", want.ID, got.asVerified(), want.asVerified())
		}
	}

	t.Run("python verifier decodes what was sent", func(t *testing.T) {
		want := map[string]map[string]any{}
		for _, r := range sent {
			want[r.ID] = r.asVerified()
		}
		recs := RunVerifier(t, topic)
		if len(recs) != len(sent)+1 {
			t.Fatalf("verifier read %d records, want %d", len(recs), len(sent)+1)
		}
		seen := 0
		for _, r := range recs {
			if r.Key == nil {
				t.Fatalf("verifier: record %d/%d has no key", r.Partition, r.Offset)
			}
			if p := landed[*r.Key]; p != r.Partition {
				t.Errorf("verifier: %s on partition %d, kafka-go read it from %d", *r.Key, r.Partition, p)
			}
			if r.Value == nil {
				if *r.Key != tombstoneKey || r.Headers["op"] != "d" {
					t.Errorf("verifier: unexpected tombstone %s headers %v", *r.Key, r.Headers)
				}
				continue
			}
			seen++
			if !reflect.DeepEqual(r.Value, want[*r.Key]) {
				t.Errorf("verifier: %s = %v, want %v", *r.Key, r.Value, want[*r.Key])
			}
			if r.Headers["op"] != "c" || r.Headers["seq"] == "" {
				t.Errorf("verifier: %s headers %v", *r.Key, r.Headers)
			}
		}
		if seen != len(sent) {
			t.Errorf("verifier decoded %d values, want %d", seen, len(sent))
		}
	})

	t.Run("kafka-go and librdkafka partition keys alike", func(t *testing.T) {
		keys := make([]string, len(sent))
		for i, r := range sent {
			keys[i] = r.ID
		}
		want := VerifierPartitions(t, partitions, keys)
		used := map[int]bool{}
		for _, k := range keys {
			used[landed[k]] = true
			if landed[k] != want[k] {
				t.Errorf("key %s: kafka-go Murmur2Balancer chose partition %d, librdkafka murmur2_random %d",
					k, landed[k], want[k])
			}
		}
		if len(used) != partitions {
			t.Errorf("1000 keys used %d of %d partitions", len(used), partitions)
		}
	})
}

// readAll reads every partition of topic from its first to its last offset with kafka-go.
func readAll(ctx context.Context, t *testing.T, env Environment, topic string, partitions int) []kafka.Message {
	t.Helper()
	reqs := make([]kafka.OffsetRequest, 0, 2*partitions)
	for p := range partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	offs, err := env.Client().ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	var all []kafka.Message
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets partition %d: %v", po.Partition, po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: env.Brokers, Topic: topic, Partition: po.Partition, MaxWait: 200 * time.Millisecond,
		})
		if err := r.SetOffset(po.FirstOffset); err != nil {
			t.Fatalf("set offset: %v", err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				t.Fatalf("read partition %d: %v", po.Partition, errors.Join(err, ctx.Err()))
			}
			all = append(all, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		if err := r.Close(); err != nil {
			t.Fatalf("close reader: %v", err)
		}
	}
	return all
}
