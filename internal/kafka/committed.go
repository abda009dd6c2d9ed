package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
)

// Every read of this package is read_committed, like a Java consumer with
// isolation.level=read_committed: it skips the records of aborted transactions and the
// transaction markers, and a bounded read waits for the transactions open when it started
// (see offsets in read.go). Without transactions on a topic
// that is exactly what read_uncommitted reads.
//
// kafka-go sends the isolation level (FetchRequest.IsolationLevel, ListOffsetsRequest's) but
// its Client.Fetch drops the aborted transactions of the answer, so it would deliver the records
// of an aborted transaction. The reads here send the fetch request themselves through the
// client's transport and filter the answer as the Java consumer does.

// fetched is one partition's fetch answer.
type fetched struct {
	Error          error
	Throttle       time.Duration
	LogStartOffset int64
	batches        []protocol.RecordReader
	aborted        []fetchAPI.ResponseTransaction
}

// fetchCommitted fetches partition p of topic from offset with isolation level read_committed.
func (c *Client) fetchCommitted(ctx context.Context, topic string, p int, offset int64, maxWait time.Duration) (*fetched, error) {
	m, err := c.transport.RoundTrip(ctx, c.client.Addr, &fetchAPI.Request{
		ReplicaID:      -1,
		MaxWaitTime:    int32(maxWait / time.Millisecond),
		MinBytes:       1,
		MaxBytes:       fetchMaxBytes,
		IsolationLevel: int8(kafkago.ReadCommitted),
		SessionID:      -1,
		SessionEpoch:   -1,
		Topics: []fetchAPI.RequestTopic{{
			Topic: topic,
			Partitions: []fetchAPI.RequestPartition{{
				Partition:          int32(p),
				CurrentLeaderEpoch: -1,
				FetchOffset:        offset,
				LogStartOffset:     -1,
				PartitionMaxBytes:  fetchMaxBytes,
			}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	res, ok := m.(*fetchAPI.Response)
	if !ok {
		return nil, fmt.Errorf("fetch: unexpected answer %T", m)
	}
	if res.ErrorCode != 0 {
		return &fetched{Error: kafkago.Error(res.ErrorCode)}, nil
	}
	if len(res.Topics) != 1 || len(res.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("fetch: %w", protocol.ErrNoPartition)
	}
	part := &res.Topics[0].Partitions[0]
	f := &fetched{
		Throttle:       time.Duration(res.ThrottleTimeMs) * time.Millisecond,
		LogStartOffset: part.LogStartOffset,
		aborted:        part.AbortedTransactions,
	}
	if part.ErrorCode != 0 {
		f.Error = kafkago.Error(part.ErrorCode)
		return f, nil
	}
	switch rs := part.RecordSet.Records.(type) {
	case nil:
	case *protocol.RecordStream:
		f.batches = rs.Records
	default:
		f.batches = []protocol.RecordReader{rs}
	}
	return f, nil
}

// readCommitted copies the committed records of one fetch answer in [offset, end) (end -1: no
// end) and returns the next offset to fetch: past the last record read or skipped.
//
// A transaction's records are skipped when the answer lists the transaction as aborted: the
// answer names the producer and the first offset of each aborted transaction in the range,
// and the producer's batches from there on up to its abort marker are the transaction's (as in
// the Java consumer). Transaction markers (control batches) are skipped too.
func readCommitted(f *fetched, p int, offset, end int64) ([]Record, int64, error) {
	aborted := slices.Clone(f.aborted)
	slices.SortFunc(aborted, func(a, b fetchAPI.ResponseTransaction) int {
		switch {
		case a.FirstOffset < b.FirstOffset:
			return -1
		case a.FirstOffset > b.FirstOffset:
			return 1
		}
		return 0
	})
	abortedBy := map[int64]bool{} // producers whose records are in an aborted transaction now
	var chunk []Record
	next := offset
	for _, batch := range f.batches {
		base, producer, transactional, control := batchInfo(batch)
		// A transaction begins with a batch, so a batch at or after a transaction's first
		// offset belongs to it when the producer matches.
		for len(aborted) > 0 && aborted[0].FirstOffset <= base {
			abortedBy[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if control {
			// A marker ends the producer's transaction: an abort ends its aborted range.
			cb, _ := batch.(*protocol.ControlBatch)
			cr, err := cb.ReadControlRecord()
			if errors.Is(err, io.EOF) {
				continue // emptied by compaction
			}
			if err != nil {
				return nil, offset, fmt.Errorf("transaction marker at offset %d: %w", base, err)
			}
			if cr.Type == controlAbort {
				delete(abortedBy, producer)
			}
			if end >= 0 && cr.Offset >= end {
				break
			}
			if cr.Offset >= offset {
				next = max(next, cr.Offset+1)
			}
			continue
		}
		skip := transactional && abortedBy[producer]
		var done bool
		var err error
		if chunk, next, done, err = readBatch(batch, chunk, p, offset, next, end, skip); err != nil {
			return nil, offset, err
		}
		if done {
			break
		}
	}
	return chunk, next, nil
}

// batchInfo returns a batch's base offset, producer id and whether it is transactional or a
// control batch (a transaction marker). A message set of the old formats is neither.
func batchInfo(batch protocol.RecordReader) (base, producer int64, transactional, control bool) {
	switch b := batch.(type) {
	case *protocol.RecordBatch:
		return b.BaseOffset, b.ProducerID, b.Attributes.Transactional(), false
	case *protocol.ControlBatch:
		return b.BaseOffset, b.ProducerID, true, true
	case *protocol.MessageSet:
		return b.BaseOffset, -1, false, false
	}
	return -1, -1, false, false
}

// controlAbort is the type of an abort marker's control record (a commit marker's is 1).
const controlAbort = 0

// readBatch appends the records of batch in [offset, end) to chunk (none when skip) and
// returns the chunk, the offset after the last record seen, and whether end was reached.
func readBatch(batch protocol.RecordReader, chunk []Record, p int, offset, next, end int64, skip bool) ([]Record, int64, bool, error) {
	for {
		r, err := batch.ReadRecord()
		if errors.Is(err, io.EOF) {
			return chunk, next, false, nil
		}
		if err != nil {
			return nil, next, false, err
		}
		if r.Offset < offset {
			continue // batches may start before the requested offset
		}
		if end >= 0 && r.Offset >= end {
			return chunk, next, true, nil
		}
		next = r.Offset + 1
		if skip {
			continue
		}
		key, err := protocol.ReadAll(r.Key)
		if err != nil {
			return nil, next, false, err
		}
		value, err := protocol.ReadAll(r.Value)
		if err != nil {
			return nil, next, false, err
		}
		var headers []Header
		if len(r.Headers) > 0 {
			headers = make([]Header, len(r.Headers))
			for i, h := range r.Headers {
				headers[i] = Header{Key: h.Key, Value: append([]byte(nil), h.Value...)}
			}
		}
		if chunk == nil {
			chunk = make([]Record, 0, 256)
		}
		chunk = append(chunk, Record{Partition: p, Offset: r.Offset, Key: key, Value: value, Headers: headers, Time: r.Time})
	}
}
