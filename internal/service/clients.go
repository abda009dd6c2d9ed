// Package service wires personio-cdc together from a config.Config: the Personio client, the
// Kafka client, the schema registry and the sync runner, and runs the long-lived service (the
// sync schedule, the admin endpoints and an orderly shutdown).
package service

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// Entities are the entities the service publishes, in the order they are synced.
var Entities = change.Names()

// Topics returns the topic of every entity.
func Topics(c config.Config) []string {
	out := make([]string, len(Entities))
	for i, e := range Entities {
		out[i] = c.Kafka.Topic(e)
	}
	return out
}

// NewPersonio builds the Personio client.
func NewPersonio(c config.Config, reg prometheus.Registerer, logger *slog.Logger) (*personio.Client, error) {
	return personio.New(personio.Config{
		BaseURL:      c.Personio.BaseURL,
		ClientID:     c.Personio.ClientID,
		ClientSecret: c.Personio.ClientSecret.Value(),
		AppID:        c.Personio.AppID,
		PartnerID:    c.Personio.PartnerID,
		HTTPClient:   &http.Client{Timeout: c.Personio.RequestTimeout},
		RateLimit:    personio.Rate{PerMinute: c.Personio.RateLimitPerMinute, Burst: c.Personio.RateBurst},
		CompensationRateLimit: personio.Rate{
			PerMinute: c.Personio.CompensationRateLimitPerMinute,
			Burst:     c.Personio.CompensationRateBurst,
		},
		Registerer: reg,
		Logger:     logger,
	})
}

// NewKafka builds the Kafka client.
func NewKafka(c config.Config, reg prometheus.Registerer, logger *slog.Logger) (*kafka.Client, error) {
	kc := KafkaConfig(c)
	kc.Registerer, kc.Logger = reg, logger
	return kafka.New(kc)
}

// KafkaConfig is how every Kafka client of the service reaches the brokers: brokers, TLS, SASL
// and the producer's compression.
func KafkaConfig(c config.Config) kafka.Config {
	return kafka.Config{
		Brokers:     c.Kafka.Brokers,
		TLS:         kafka.TLSConfig{Enabled: c.Kafka.TLSEnabled, CAFile: c.Kafka.TLSCAFile},
		SASL:        kafka.SASLConfig{Mechanism: strings.ToUpper(c.Kafka.SASLMechanism), Username: c.Kafka.SASLUsername, Password: c.Kafka.SASLPassword.Value()},
		Compression: c.Kafka.Compression,
	}
}

// TopicTemplate is how the service creates a missing topic: the configured partitions and
// replication, compacted, with MIN_COMPACTION_LAG, MAX_COMPACTION_LAG, SEGMENT_ROLL and
// DELETE_RETENTION as min.compaction.lag.ms, max.compaction.lag.ms, segment.ms and
// delete.retention.ms. Name is left empty.
func TopicTemplate(c config.Config) kafka.TopicSpec {
	k := c.Kafka
	return kafka.TopicSpec{
		Partitions:        k.TopicPartitions,
		ReplicationFactor: k.ReplicationFactor,
		Configs:           kafka.CompactedTopicConfigs(k.MinCompactionLag, k.MaxCompactionLag, k.SegmentRoll, k.DeleteRetention),
	}
}

// NewRegistry builds the schema registry client; extra options (e.g. codec.WithRegisterer) come
// after the ones the config sets.
func NewRegistry(c config.Config, logger *slog.Logger, extra ...codec.RegistryOption) (*codec.Registry, error) {
	opts := []codec.RegistryOption{codec.WithLogger(logger)}
	if c.SchemaRegistry.Username != "" {
		opts = append(opts, codec.WithBasicAuth(c.SchemaRegistry.Username, c.SchemaRegistry.Password.Value()))
	}
	return codec.NewRegistry(c.SchemaRegistry.URL, append(opts, extra...)...)
}

// NewEraser builds what `personio-cdc erase` runs: the erasures topic and the entity topics
// under the configured prefix, created like every other topic, reached through kc, decoded
// with the registry reg.
func NewEraser(c config.Config, kc *kafka.Client, reg *codec.Registry) (*erasure.Eraser, error) {
	return erasure.New(erasure.Config{
		TopicPrefix: c.Kafka.TopicPrefix,
		Entities:    syncrun.Entities(),
		Admin:       kc,
		TopicSpec:   TopicTemplate(c),
		Producer:    kc,
		Reader:      kc,
		Codec:       codec.New(reg),
	})
}
