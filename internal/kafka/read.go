package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// Record is one record read from a topic.
type Record struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte // nil for a tombstone
	Headers   []Header
	Time      time.Time
}

const (
	// fetchMaxBytes bounds one fetch answer per partition. Partitions are fetched in
	// parallel, and a rebuild reads every partition of two topics at once: 1 MiB keeps what
	// is in flight small (with 16 MiB, reading the topics of 100,000 persons and their
	// compensations alone peaked near 750 MB resident).
	fetchMaxBytes = 1 << 20
	// emptyFetchLimit is how many empty answers below the high-water mark end
	// a bounded read: the rest of the range was compacted or deleted away.
	emptyFetchLimit = 3
	tailMaxWait     = time.Second
)

// ReadToEnd calls fn for every committed record of topic from the first offset
// of each partition up to its high-water mark taken when the call starts;
// records written later are not read, so the call finishes without waiting for
// new data. A transaction open at the start is waited for (see offsets): its
// records are read if it commits and skipped if it aborts, as are the records
// of every aborted transaction (see committed.go). Within a partition fn sees records in offset order; partitions are
// fetched in parallel and interleave. fn is called from the calling goroutine
// only, never concurrently. Offsets may have gaps (compaction). An fn error
// stops the read and is returned as is.
func (c *Client) ReadToEnd(ctx context.Context, topic string, fn func(Record) error) error {
	if c.isClosed() {
		return ErrClosed
	}
	first, end, err := c.offsetsRetried(ctx, topic)
	if err != nil {
		return fmt.Errorf("kafka: read %s: %w", topic, err)
	}
	return c.consume(ctx, fn, func(ctx context.Context, g *errgroup.Group, out chan<- []Record) {
		for p, start := range first {
			if start >= end[p] {
				continue
			}
			g.Go(func() error { return c.readPartition(ctx, topic, p, start, end[p], out) })
		}
	})
}

// TopicReplay replays one topic from its first offset to its end, key and value of each record,
// as the state rebuild reads it (state.RecordSource). Note, when set, sees every record first.
type TopicReplay struct {
	Reader interface {
		ReadToEnd(ctx context.Context, topic string, fn func(Record) error) error
	}
	Topic string
	Note  func(Record)
}

// Replay calls fn with the key and value (nil for a tombstone) of every record of the topic.
func (t TopicReplay) Replay(ctx context.Context, fn func(key string, value []byte) error) error {
	return t.Reader.ReadToEnd(ctx, t.Topic, func(rec Record) error {
		if t.Note != nil {
			t.Note(rec)
		}
		return fn(string(rec.Key), rec.Value)
	})
}

// Tail calls fn for every committed record of topic (see ReadToEnd), starting at the first offset of
// each partition (fromBeginning) or at the current end, and keeps waiting for
// new records until ctx is done, when it returns ctx.Err(). Partitions added
// after the call starts are not followed. fn is called from the calling
// goroutine only.
func (c *Client) Tail(ctx context.Context, topic string, fromBeginning bool, fn func(Record) error) error {
	if c.isClosed() {
		return ErrClosed
	}
	first, end, err := c.offsetsRetried(ctx, topic)
	if err != nil {
		return fmt.Errorf("kafka: tail %s: %w", topic, err)
	}
	err = c.consume(ctx, fn, func(ctx context.Context, g *errgroup.Group, out chan<- []Record) {
		for p := range first {
			start := end[p]
			if fromBeginning {
				start = first[p]
			}
			g.Go(func() error { return c.readPartition(ctx, topic, p, start, -1, out) })
		}
	})
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// consume runs the partition readers started by start and feeds their
// record chunks to fn on the calling goroutine.
func (c *Client) consume(ctx context.Context, fn func(Record) error,
	start func(context.Context, *errgroup.Group, chan<- []Record)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	out := make(chan []Record, 2) // fetched chunks waiting for fn: each up to fetchMaxBytes
	start(gctx, g, out)
	done := make(chan error, 1)
	go func() {
		done <- g.Wait()
		close(out)
	}()
	var fnErr error
	for chunk := range out {
		if fnErr != nil {
			continue // drain so that the readers can exit
		}
		for i := range chunk {
			if err := fn(chunk[i]); err != nil {
				fnErr = err
				cancel()
				break
			}
		}
	}
	err := <-done
	if fnErr != nil {
		return fnErr
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	return err
}

// readRetries is how many times a read retries a retryable failure (a partition without a
// leader right after a broker restart, a connection refused or cut while it starts): the
// pauses of retryBackoff, 200 ms doubling up to 6.4 s, 25 s in all. A restarted broker was
// seen to end every ListOffsets with EOF for up to 6 s after it accepted connections, so the
// budget is several times that, and several times the client's metadata refresh.
const readRetries = 8

// offsetsRetried is offsets, retried on retryable failures.
func (c *Client) offsetsRetried(ctx context.Context, topic string) (first, end map[int]int64, err error) {
	for round := 0; ; round++ {
		first, end, err = c.offsets(ctx, topic)
		if err == nil || round >= readRetries || !Retryable(err) || UnknownTopic(err) || ctx.Err() != nil {
			return first, end, err
		}
		if err := sleep(ctx, retryBackoff(round)); err != nil {
			return nil, nil, err
		}
	}
}

// offsets returns the first offset and the high-water mark of every partition of
// topic, once no transaction open at the call's start is still open below the mark.
func (c *Client) offsets(ctx context.Context, topic string) (first, end map[int]int64, err error) {
	md, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, nil, err
	}
	var partitions []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, nil, t.Error
		}
		for _, p := range t.Partitions {
			partitions = append(partitions, p.ID)
		}
	}
	if len(partitions) == 0 {
		return nil, nil, kafkago.UnknownTopicOrPartition
	}
	// Separate requests: brokers reject a partition listed twice in one.
	list := func(ts int64, iso kafkago.IsolationLevel) (map[int]int64, error) {
		reqs := make([]kafkago.OffsetRequest, len(partitions))
		for i, p := range partitions {
			reqs[i] = kafkago.OffsetRequest{Partition: p, Timestamp: ts}
		}
		resp, err := c.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{
			Topics: map[string][]kafkago.OffsetRequest{topic: reqs}, IsolationLevel: iso})
		if err != nil {
			return nil, err
		}
		out := make(map[int]int64, len(partitions))
		for _, po := range resp.Topics[topic] {
			if po.Error != nil {
				return nil, fmt.Errorf("partition %d: %w", po.Partition, po.Error)
			}
			if ts == kafkago.FirstOffset {
				out[po.Partition] = po.FirstOffset
			} else {
				out[po.Partition] = po.LastOffset
			}
		}
		if len(out) != len(partitions) {
			return nil, fmt.Errorf("list offsets: %d of %d partitions answered", len(out), len(partitions))
		}
		return out, nil
	}
	if first, err = list(kafkago.FirstOffset, kafkago.ReadCommitted); err != nil {
		return nil, nil, err
	}
	// The end is the high-water mark when the call starts: every record written before it,
	// committed by then or later. A transaction open at that moment holds the last stable
	// offset below the mark, and with it every record other producers committed after the
	// transaction began: ending at the last stable offset would miss those committed records
	// (a tenant's new owner would rebuild a state behind its own topic while another tenant
	// publishes). So the read waits until the transactions open at the start have ended
	// (committed, aborted, or aborted by the transaction timeout or a fence), which a
	// transaction of one publish takes milliseconds to do.
	if end, err = list(kafkago.LastOffset, kafkago.ReadUncommitted); err != nil {
		return nil, nil, err
	}
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		stable, err := list(kafkago.LastOffset, kafkago.ReadCommitted)
		if err != nil {
			return nil, nil, err
		}
		open := false
		for p, hwm := range end {
			open = open || stable[p] < hwm
		}
		if !open {
			return first, end, nil
		}
		if err := sleep(ctx, pause); err != nil {
			return nil, nil, err
		}
	}
}

// readPartition fetches partition p from offset until end (exclusive; -1
// follows forever) and sends the records in chunks.
func (c *Client) readPartition(ctx context.Context, topic string, p int, offset, end int64, out chan<- []Record) error {
	empty := 0
	failures := 0
	for end < 0 || offset < end {
		maxWait := 500 * time.Millisecond
		if end < 0 {
			maxWait = tailMaxWait
		}
		started := time.Now()
		resp, err := c.fetchCommitted(ctx, topic, p, offset, maxWait)
		if err == nil && resp.Error != nil {
			if errors.Is(resp.Error, kafkago.OffsetOutOfRange) && resp.LogStartOffset > offset {
				offset = resp.LogStartOffset // retention removed the start
				continue
			}
			err = resp.Error
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !Retryable(err) || failures >= readRetries {
				return fmt.Errorf("fetch %s/%d at offset %d: %w", topic, p, offset, err)
			}
			if err := sleep(ctx, retryBackoff(failures)); err != nil {
				return err
			}
			failures++
			continue
		}
		failures = 0
		chunk, next, err := readCommitted(resp, p, offset, end)
		if err != nil {
			return fmt.Errorf("fetch %s/%d at offset %d: decode: %w", topic, p, offset, err)
		}
		if len(chunk) == 0 && next > offset {
			// Only aborted records or transaction markers: nothing to deliver, but the
			// read moves past them.
			empty = 0
			offset = next
			continue
		}
		if len(chunk) == 0 {
			if resp.Throttle > 0 {
				// A quota held the answer back: wait, and do not count it.
				if err := sleep(ctx, resp.Throttle); err != nil {
					return err
				}
				continue
			}
			if end < 0 {
				// Long poll ended without data. A broker that answers at
				// once must not make this loop spin.
				if time.Since(started) < maxWait/10 {
					if err := sleep(ctx, maxWait/10); err != nil {
						return err
					}
				}
				continue
			}
			// Below the high-water mark but no record at or after offset:
			// the broker returns every batch from the one holding offset
			// onwards (at least one, up to fetchMaxBytes), so the rest of
			// the range holds no records (removed by compaction or
			// retention). Ask again a few
			// times before concluding, in case the answer was cut short.
			if empty++; empty >= emptyFetchLimit {
				return nil
			}
			continue
		}
		empty = 0
		offset = next
		select {
		case out <- chunk:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
