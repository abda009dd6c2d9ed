package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Header is a Kafka record header.
type Header = kafkago.Header

// Message is one record to publish.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte // nil publishes a tombstone
	Headers []Header
}

// Publish writes msgs and returns once every message is acknowledged by all
// in-sync replicas (nil), or with an error saying which were not.
//
// Messages are partitioned by murmur2 of the key like the Java client, so
// one key always lands in one partition and its messages keep their order.
// The writer tries each batch up to Config.MaxAttempts times before moving
// on to the partition's next batch, which preserves order. Messages that
// still failed with a retryable error get up to Config.PublishRetries more
// rounds, but only when that cannot reorder a key: a failed message is not
// retried if a later message with the same key was already acknowledged or
// an earlier one failed for good; such messages fail with ErrWouldReorder.
//
// A *PublishError lists the failed messages (see Acked); every other message
// was acknowledged. Any other error (cancelled context, unknown topic
// metadata) means nothing is known to be acknowledged. Either way the caller
// keeps its state for unacknowledged messages, so the next sync sends the
// same changes again with the same event ids.
//
// Cancelling ctx stops Publish from sending anything new, but messages it has
// already handed to the writer are on their way whatever ctx says. Publish
// waits for their verdict for up to Config.WriteTimeout after the cancel and
// reports it as above, so that a caller that goes on (the next sync in the
// same process, a fresh state rebuilt from the topics) does not send them a
// second time. Only when that wait runs out does it return ctx's error with
// their fate unknown; kafka-go may then still send them, reading msgs' keys,
// values and headers when it does.
//
// So the caller may reuse the memory msgs point to only after Publish
// returned nil. After an error it must leave it alone (let the garbage
// collector have it): a late write would otherwise send whatever was written
// there since.
//
// Publish is safe for concurrent use, but messages of concurrent calls
// interleave in arrival order: publish each key from one goroutine.
func (c *Client) Publish(ctx context.Context, msgs []Message) error {
	if c.isClosed() {
		return ErrClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	kms := make([]kafkago.Message, len(msgs))
	for i := range msgs {
		if msgs[i].Topic == "" {
			return fmt.Errorf("kafka: publish: message %d has no topic", i)
		}
		kms[i] = kafkago.Message{Topic: msgs[i].Topic, Key: msgs[i].Key, Value: msgs[i].Value, Headers: msgs[i].Headers}
	}

	batch := kms
	var index []int // index[k] = position in msgs of batch[k]; nil means identity
	failed := map[int]error{}
	wctx, done := c.drainContext(ctx)
	defer done()
	for round := 0; ; round++ {
		err := ctx.Err() // once cancelled, nothing new is sent
		if err == nil {
			start := time.Now()
			c.writeMu.RLock()
			err = c.writer.WriteMessages(wctx, batch...)
			c.writeMu.RUnlock()
			c.metrics.duration.Observe(time.Since(start).Seconds())
			if err != nil && wctx.Err() != nil {
				// The drain ran out: report ctx's own error, not the drain's.
				err = fmt.Errorf("no verdict %v after the cancel: %w", c.cfg.WriteTimeout, context.Cause(wctx))
			}
		}
		if err == nil {
			c.countWritten(msgs, batch, index, nil)
			break
		}
		var we kafkago.WriteErrors
		if !errors.As(err, &we) || len(we) != len(batch) {
			// The call failed as a whole: no verdict for this round's
			// messages. In the first round that is every message.
			if round == 0 {
				for k := range batch {
					c.metrics.writeErrors.WithLabelValues(batch[k].Topic, reason(err)).Inc()
				}
				return fmt.Errorf("kafka: publish %d messages: %w", len(msgs), err)
			}
			for k := range batch {
				failed[at(index, k)] = err
			}
			break
		}
		c.countWritten(msgs, batch, index, we)
		failedNow := make(map[int]error, we.Count())
		for k, e := range we {
			if e != nil {
				failedNow[at(index, k)] = e
			}
		}
		retry := c.retryable(msgs, failed, failedNow, round)
		if len(retry) == 0 {
			break
		}
		c.logger.WarnContext(ctx, "retrying messages that failed", "messages", len(retry), "round", round+1)
		if err := sleep(ctx, retryBackoff(round)); err != nil {
			for _, i := range retry {
				failed[i] = err
			}
			break
		}
		batch = make([]kafkago.Message, len(retry))
		for k, i := range retry {
			batch[k] = kms[i]
		}
		index = retry
	}
	if len(failed) == 0 {
		return nil
	}
	c.countFailed(msgs, failed)
	return &PublishError{Failed: failed, Total: len(msgs)}
}

// drainContext returns the context for the writer's calls: ctx without its cancellation,
// which it gets only c.cfg.WriteTimeout after ctx's, with ctx's cause. kafka-go sends the
// messages of a call it has accepted whatever happens to the call's context; a call that
// gave up on a cancel would leave their verdict unknown. done releases the context.
func (c *Client) drainContext(ctx context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(c.cfg.WriteTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(context.Cause(ctx))
		case <-wctx.Done():
		}
	})
	return wctx, func() {
		stop()
		cancel(nil)
	}
}

// metadataTTL is how often the client refreshes its view of the cluster.
const metadataTTL = 2 * time.Second

// retryBackoff is the pause before retry round round+1: 200 ms, doubling. The default four
// rounds wait 3 s in all, longer than metadataTTL, so a retry sees fresh leaders.
func retryBackoff(round int) time.Duration {
	return 200 * time.Millisecond << min(round, 5)
}

// retryable moves this round's failures either into failed (for good) or
// into the returned list to retry, in publish order.
func (c *Client) retryable(msgs []Message, failed, failedNow map[int]error, round int) []int {
	type topicKey struct{ topic, key string }
	// Highest acknowledged index per key, and keys that failed for good.
	lastAcked := map[topicKey]int{}
	for i := range msgs {
		if _, f := failed[i]; f {
			continue
		}
		if _, f := failedNow[i]; f {
			continue
		}
		lastAcked[topicKey{msgs[i].Topic, string(msgs[i].Key)}] = i
	}
	dead := map[topicKey]bool{}
	for i := range msgs {
		if _, f := failed[i]; f {
			dead[topicKey{msgs[i].Topic, string(msgs[i].Key)}] = true
		}
	}
	var retry []int
	for i := range msgs {
		err, f := failedNow[i]
		if !f {
			continue
		}
		k := topicKey{msgs[i].Topic, string(msgs[i].Key)}
		switch {
		case !Retryable(err) || round >= c.cfg.PublishRetries:
			failed[i] = err
			dead[k] = true
		case dead[k] || lastAcked[k] > i:
			failed[i] = fmt.Errorf("%w: %w", ErrWouldReorder, err)
			dead[k] = true
		default:
			retry = append(retry, i)
		}
	}
	return retry
}

func at(index []int, k int) int {
	if index == nil {
		return k
	}
	return index[k]
}

func (c *Client) countWritten(msgs []Message, batch []kafkago.Message, index []int, we kafkago.WriteErrors) {
	topic := ""
	var n, size float64
	flush := func() {
		if n > 0 {
			c.metrics.written.WithLabelValues(topic).Add(n)
			c.metrics.bytes.WithLabelValues(topic).Add(size)
		}
		n, size = 0, 0
	}
	for k := range batch {
		if we != nil && we[k] != nil {
			continue
		}
		m := &msgs[at(index, k)]
		if m.Topic != topic {
			flush()
			topic = m.Topic
		}
		n++
		size += float64(len(m.Key) + len(m.Value))
	}
	flush()
}

func (c *Client) countFailed(msgs []Message, failed map[int]error) {
	for i, err := range failed {
		c.metrics.writeErrors.WithLabelValues(msgs[i].Topic, reason(err)).Inc()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
