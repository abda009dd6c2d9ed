package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Defaults of the compaction settings of a created topic.
const (
	// DefaultCompactionLag is the default min.compaction.lag.ms and delete.retention.ms:
	// every change, and every tombstone, stays visible for a week.
	DefaultCompactionLag = 7 * 24 * time.Hour
	// DefaultMaxCompactionLag is the default max.compaction.lag.ms: a record another one
	// replaced (an erased person's values) is compacted away at the latest 30 days after it
	// became cleanable.
	DefaultMaxCompactionLag = 30 * 24 * time.Hour
	// DefaultSegmentRoll is the default segment.ms: the active segment, which Kafka never
	// compacts, is rolled at the first write a day after it began.
	DefaultSegmentRoll = 24 * time.Hour
)

// TopicSpec describes a topic the service writes to.
type TopicSpec struct {
	Name string
	// Partitions is the partition count for a new topic (default 6).
	Partitions int
	// ReplicationFactor for a new topic; 0 or -1 uses the broker default.
	ReplicationFactor int
	// Configs override or extend DefaultTopicConfigs (e.g.
	// cleanup.policy=delete, retention.ms=-1 for full history).
	Configs map[string]string
}

// DefaultTopicConfigs returns the configs of a compacted change topic.
func DefaultTopicConfigs() map[string]string {
	return CompactedTopicConfigs(DefaultCompactionLag, DefaultMaxCompactionLag, DefaultSegmentRoll, DefaultCompactionLag)
}

// CompactedTopicConfigs returns the configs of a compacted topic with the given
// min.compaction.lag.ms, max.compaction.lag.ms, segment.ms and delete.retention.ms. Together
// they bound how long a value replaced by a tombstone stays readable (README "Erasure").
func CompactedTopicConfigs(minLag, maxLag, segmentRoll, deleteRetention time.Duration) map[string]string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return map[string]string{
		"cleanup.policy":        "compact",
		"min.compaction.lag.ms": ms(minLag),
		"max.compaction.lag.ms": ms(maxLag),
		"segment.ms":            ms(segmentRoll),
		"delete.retention.ms":   ms(deleteRetention),
	}
}

func (s TopicSpec) configs() map[string]string {
	out := DefaultTopicConfigs()
	maps.Copy(out, s.Configs)
	return out
}

// EnsureTopics creates the topics that do not exist yet, with the spec's
// partitions, replication and configs. Existing topics are compared with the
// spec: a different partition count or config value is logged as a warning,
// never changed and never an error (operators may tune topics). A broker that
// does not allow topic creation is an error only for a topic that does not
// exist; a broker that does not allow describing configs skips the config
// comparison. A topic it created is ready to read and write when it returns.
func (c *Client) EnsureTopics(ctx context.Context, specs []TopicSpec) error {
	if c.isClosed() {
		return ErrClosed
	}
	if len(specs) == 0 {
		return nil
	}
	names := make([]string, len(specs))
	for i := range specs {
		if specs[i].Name == "" {
			return errors.New("kafka: ensure topics: empty topic name")
		}
		if specs[i].Partitions < 0 {
			return fmt.Errorf("kafka: ensure topics: %s: partitions %d must be positive", specs[i].Name, specs[i].Partitions)
		}
		names[i] = specs[i].Name
	}
	existing, err := c.topicPartitions(ctx, names)
	if err != nil {
		return fmt.Errorf("kafka: ensure topics: %w", err)
	}

	var create []kafkago.TopicConfig
	for _, s := range specs {
		if _, ok := existing[s.Name]; ok {
			continue
		}
		partitions := s.Partitions
		if partitions == 0 {
			partitions = 6
		}
		rf := s.ReplicationFactor
		if rf == 0 {
			rf = -1
		}
		tc := kafkago.TopicConfig{Topic: s.Name, NumPartitions: partitions, ReplicationFactor: rf}
		cfgs := s.configs()
		for _, k := range slices.Sorted(maps.Keys(cfgs)) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: cfgs[k]})
		}
		create = append(create, tc)
	}
	if len(create) > 0 {
		resp, err := c.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: create})
		if err != nil {
			return fmt.Errorf("kafka: create topics: %w", err)
		}
		var errs []error
		var created []string
		for _, tc := range create {
			switch err := resp.Errors[tc.Topic]; {
			case err == nil:
				c.logger.InfoContext(ctx, "created topic", "topic", tc.Topic, "partitions", tc.NumPartitions)
				created = append(created, tc.Topic)
			case errors.Is(err, kafkago.TopicAlreadyExists):
				// Created concurrently; compare below.
			case isAuthorization(err):
				// Not allowed to create: fine if someone else already did.
				now, merr := c.topicPartitions(ctx, []string{tc.Topic})
				if _, ok := now[tc.Topic]; merr == nil && ok {
					c.logger.WarnContext(ctx, "not allowed to create topics; using the existing topic", "topic", tc.Topic)
					continue
				}
				errs = append(errs, fmt.Errorf("kafka: create topic %s (it does not exist): %w", tc.Topic, err))
			default:
				errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", tc.Topic, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := c.awaitTopics(ctx, created); err != nil {
			return err
		}
	}
	c.checkDrift(ctx, specs, existing)
	return nil
}

// topicReadyWithin bounds how long EnsureTopics waits for a topic it created to be usable.
const topicReadyWithin = 30 * time.Second

// awaitTopics waits until every partition of each created topic answers an offsets request.
// Kafka confirms CreateTopics once the controller has the topic; the brokers become its
// partitions' leaders a moment later, and until then a read or write fails with "not leader"
// or "unknown topic or partition", which the state rebuild and the first write of a fresh
// deployment would otherwise meet.
func (c *Client) awaitTopics(ctx context.Context, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, topicReadyWithin)
	defer cancel()
	for _, topic := range topics {
		for pause := 10 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
			_, _, err := c.offsets(ctx, topic)
			if err == nil {
				break
			}
			if !Retryable(err) {
				return fmt.Errorf("kafka: created topic %s: %w", topic, err)
			}
			if serr := sleep(ctx, pause); serr != nil {
				return fmt.Errorf("kafka: created topic %s not ready (waited up to %v): %w", topic, topicReadyWithin, errors.Join(err, serr))
			}
		}
	}
	return nil
}

// topicPartitions returns the partition count of each listed topic that exists.
func (c *Client) topicPartitions(ctx context.Context, names []string) (map[string]int, error) {
	md, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range md.Topics {
		switch {
		case t.Error == nil:
			out[t.Name] = len(t.Partitions)
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
		case isAuthorization(t.Error):
			// Not allowed to describe it: assume it exists (partition count
			// unknown) and let the first write say otherwise.
			c.logger.WarnContext(ctx, "not allowed to describe topic; assuming it exists", "topic", t.Name)
			out[t.Name] = 0
		default:
			return nil, fmt.Errorf("metadata of topic %s: %w", t.Name, t.Error)
		}
	}
	return out, nil
}

// checkDrift warns about existing topics whose partitions or configs differ
// from their spec.
func (c *Client) checkDrift(ctx context.Context, specs []TopicSpec, existing map[string]int) {
	var res []kafkago.DescribeConfigRequestResource
	for _, s := range specs {
		n, ok := existing[s.Name]
		if !ok {
			continue
		}
		if s.Partitions != 0 && n != 0 && n != s.Partitions {
			c.logger.WarnContext(ctx, "topic partition count differs from the configured one",
				"topic", s.Name, "partitions", n, "configured", s.Partitions)
		}
		res = append(res, kafkago.DescribeConfigRequestResource{
			ResourceType: kafkago.ResourceTypeTopic,
			ResourceName: s.Name,
			ConfigNames:  slices.Sorted(maps.Keys(s.configs())),
		})
	}
	if len(res) == 0 {
		return
	}
	resp, err := c.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: res})
	if err != nil {
		c.logger.WarnContext(ctx, "cannot describe topic configs; skipping the drift check", "err", err)
		return
	}
	bySpec := map[string]TopicSpec{}
	for _, s := range specs {
		bySpec[s.Name] = s
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			c.logger.WarnContext(ctx, "cannot describe topic configs; skipping the drift check", "topic", r.ResourceName, "err", r.Error)
			continue
		}
		want := bySpec[r.ResourceName].configs()
		got := map[string]string{}
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if v, ok := got[k]; ok && v != want[k] {
				c.logger.WarnContext(ctx, "topic config differs from the configured one",
					"topic", r.ResourceName, "config", k, "value", v, "configured", want[k])
			}
		}
	}
}

// TopicConfigs returns the current values of the named configs of topic
// (all configs when names is empty).
func (c *Client) TopicConfigs(ctx context.Context, topic string, names ...string) (map[string]string, error) {
	resp, err := c.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{
		Resources: []kafkago.DescribeConfigRequestResource{{
			ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: names,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: describe configs of %s: %w", topic, err)
	}
	out := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("kafka: describe configs of %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	return out, nil
}

// Partitions returns the partition count of topic.
func (c *Client) Partitions(ctx context.Context, topic string) (int, error) {
	m, err := c.topicPartitions(ctx, []string{topic})
	if err != nil {
		return 0, fmt.Errorf("kafka: partitions of %s: %w", topic, err)
	}
	n, ok := m[topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("kafka: partitions of %s: %w", topic, kafkago.UnknownTopicOrPartition)
	case n == 0:
		return 0, fmt.Errorf("kafka: partitions of %s: %w", topic, kafkago.TopicAuthorizationFailed)
	}
	return n, nil
}

func isAuthorization(err error) bool {
	return errors.Is(err, kafkago.TopicAuthorizationFailed) || errors.Is(err, kafkago.ClusterAuthorizationFailed)
}
