package service

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
)

// GroupOptions returns the consumer group's options (GROUP_*; meaningful when
// c.Membership.Grouped()): the Kafka connection of KafkaConfig, the work topic <prefix>.work
// created like the service's other topics (KAFKA_REPLICATION_FACTOR), the configured tenants,
// and owner and admin (the service's *kafka.Client) as given.
func GroupOptions(c config.Config, tenants []string, owner group.Owner, admin group.Admin, reg prometheus.Registerer, logger *slog.Logger) group.Options {
	kc := KafkaConfig(c)
	kc.Logger = logger
	return group.Options{
		Kafka:             kc,
		GroupID:           c.Membership.GroupID,
		Topic:             c.Kafka.WorkTopic(),
		Partitions:        c.Membership.WorkPartitions,
		ReplicationFactor: c.Kafka.ReplicationFactor,
		SessionTimeout:    c.Membership.SessionTimeout,
		RebalanceTimeout:  c.Membership.RebalanceTimeout,
		Tenants:           tenants,
		Owner:             owner,
		Admin:             admin,
		Registerer:        reg,
		Logger:            logger,
	}
}
