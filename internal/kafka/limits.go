package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
)

// DefaultMaxMessageBytes is Kafka's default for the broker's message.max.bytes and a topic's
// max.message.bytes: the largest record batch a broker accepts. The client assumes it until
// MessageLimits read the real ones, and for a topic whose limit may not be read.
const DefaultMaxMessageBytes = 1048588

// recordBatchOverhead is the bytes of a record batch (format v2) besides its records: base
// offset and length (12) and the batch header (49). The broker measures the whole batch against
// max.message.bytes.
const recordBatchOverhead = 61

// MessageLimits reads, for each topic, the largest record batch the brokers accept: the
// topic's max.message.bytes, or the brokers' message.max.bytes (the smallest) where the topic's
// cannot be read, or DefaultMaxMessageBytes where neither may be read (a warning says so). It
// returns them by topic.
//
// The client keeps them: from then on CheckSize measures messages against the smallest, and
// Publish fills its produce batches only up to it. Call it once at start-up, after the topics
// exist and before publishing. The error is ErrClosed or ctx's.
func (c *Client) MessageLimits(ctx context.Context, topics ...string) (map[string]int, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	out := make(map[string]int, len(topics))
	var missing []string
	res := make([]kafkago.DescribeConfigRequestResource, len(topics))
	for i, t := range topics {
		res[i] = kafkago.DescribeConfigRequestResource{ResourceType: kafkago.ResourceTypeTopic, ResourceName: t,
			ConfigNames: []string{"max.message.bytes"}}
	}
	if len(res) > 0 {
		resp, err := c.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: res})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.logger.WarnContext(ctx, "cannot read the topics' max.message.bytes; trying the brokers' message.max.bytes", "err", err)
		}
		for _, t := range topics {
			n, err := configInt(resp, t, "max.message.bytes")
			if err != nil {
				c.logger.WarnContext(ctx, "cannot read the topic's max.message.bytes; trying the brokers' message.max.bytes", "topic", t, "err", err)
				missing = append(missing, t)
				continue
			}
			out[t] = n
		}
	}
	if len(missing) > 0 {
		n, err := c.brokerMessageMax(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.logger.WarnContext(ctx, "cannot read the brokers' message.max.bytes; assuming Kafka's default",
				"topics", missing, "max_message_bytes", DefaultMaxMessageBytes, "err", err)
			n = DefaultMaxMessageBytes
		}
		for _, t := range missing {
			out[t] = n
		}
	}
	c.setLimits(out)
	return out, nil
}

// brokerMessageMax returns the smallest message.max.bytes of the cluster's brokers.
func (c *Client) brokerMessageMax(ctx context.Context) (int, error) {
	md, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{}})
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	if len(md.Brokers) == 0 {
		return 0, errors.New("metadata lists no broker")
	}
	least := 0
	for _, b := range md.Brokers {
		id := strconv.Itoa(b.ID)
		resp, err := c.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
			ResourceType: kafkago.ResourceTypeBroker, ResourceName: id, ConfigNames: []string{"message.max.bytes"},
		}}})
		if err != nil {
			return 0, fmt.Errorf("describe broker %s: %w", id, err)
		}
		n, err := configInt(resp, id, "message.max.bytes")
		if err != nil {
			return 0, fmt.Errorf("broker %s: %w", id, err)
		}
		if least == 0 || n < least {
			least = n
		}
	}
	return least, nil
}

// configInt returns the positive integer value of config name of resource in resp.
func configInt(resp *kafkago.DescribeConfigsResponse, resource, name string) (int, error) {
	if resp == nil {
		return 0, errors.New("no answer")
	}
	for _, r := range resp.Resources {
		if r.ResourceName != resource {
			continue
		}
		if r.Error != nil {
			return 0, r.Error
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != name {
				continue
			}
			n, err := strconv.Atoi(e.ConfigValue)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("%s is %q, not a positive number", name, e.ConfigValue)
			}
			return n, nil
		}
		return 0, fmt.Errorf("%s not in the answer", name)
	}
	return 0, errors.New("not in the answer")
}

// setLimits records limits and lowers the writer's batch size to what the smallest limit
// known allows. Publish holds writeMu while the writer takes messages.
func (c *Client) setLimits(limits map[string]int) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	for t, n := range limits {
		c.limits[t] = n
	}
	least := DefaultMaxMessageBytes
	if len(c.limits) > 0 {
		least = 0
		for _, n := range c.limits {
			if least == 0 || n < least {
				least = n
			}
		}
	}
	c.least = least
	budget := min(c.cfg.BatchBytes, int64(recordBudget(least, c.cfg.Compression)))
	c.budget.Store(budget)
	c.writer.BatchBytes = budget
}

// TooLargeError is CheckSize's error for a message that no produce batch can carry to its
// topic. It holds sizes and names only, never the message's content.
type TooLargeError struct {
	Topic string
	// Size is the most bytes the message can take in a record batch: its key, value and
	// headers, the record's framing at its largest and, with compression, what the codec may
	// add to data it cannot shrink.
	Size int
	// Limit is the most bytes a message may take: the smallest max.message.bytes of the
	// topics the client writes to, less the record batch header and the compression margin,
	// and at most Config.BatchBytes.
	Limit int
	// MaxMessageBytes is the limit that Limit is derived from, as read from the topic or the
	// brokers (or DefaultMaxMessageBytes).
	MaxMessageBytes int
}

// Error implements error.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("kafka: a message of %d bytes does not fit: at most %d bytes (max.message.bytes %d) go to topic %s",
		e.Size, e.Limit, e.MaxMessageBytes, e.Topic)
}

// Is makes a *TooLargeError match ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// CheckSize returns a *TooLargeError when m cannot reach its topic: when a record batch
// holding m alone would exceed the limits MessageLimits read (DefaultMaxMessageBytes before
// it ran), counted conservatively (see TooLargeError.Size), or when m exceeds
// Config.BatchBytes. Publish would fail such a message and every other of its call.
func (c *Client) CheckSize(m Message) error {
	size := recordBound(m)
	budget := c.budget.Load()
	if int64(size) <= budget {
		return nil
	}
	c.writeMu.RLock()
	least := c.least
	c.writeMu.RUnlock()
	return &TooLargeError{Topic: m.Topic, Size: size, Limit: int(budget), MaxMessageBytes: least}
}

// recordBound is the most bytes m can take in a record batch, uncompressed. It is at least
// the record's wire size (its length, attributes, timestamp and offset deltas, key and value
// lengths and header count as varints of up to 5 or 10 bytes) and at least the size kafka-go
// counts against Writer.BatchBytes for it, so that a message within the budget passes both.
func recordBound(m Message) int {
	n := 45 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// compressionGrowth is the most a codec adds to n bytes it cannot shrink, rounded up
// generously: deflate's stored blocks and gzip's frame; snappy's worst case of n/6 plus the
// framing of its blocks; lz4's and zstd's bounds and frames.
func compressionGrowth(codec string, n int) int {
	switch strings.ToLower(codec) {
	case CompressionGzip:
		return n/1024 + 64
	case CompressionSnappy:
		return n/6 + n/4096 + 64
	case CompressionLz4:
		return n/255 + n/4096 + 64
	case CompressionZstd:
		return n/128 + 128
	}
	return 0
}

// recordBudget is the most record bytes, uncompressed, a record batch may hold under a limit
// of maxMessageBytes with the codec: the largest n with header + n + growth(n) <= limit.
func recordBudget(maxMessageBytes int, codec string) int {
	fits := func(n int) bool {
		return recordBatchOverhead+n+compressionGrowth(codec, n) <= maxMessageBytes
	}
	// The first n that does not fit, minus one.
	return max(0, sort.Search(maxMessageBytes+1, func(n int) bool { return !fits(n) })-1)
}
