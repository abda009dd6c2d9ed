package publish

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// Encoder encodes an envelope in the Confluent wire format under a registered schema id, with
// its before and after records spliced in from their encodings. *codec.Codec satisfies it.
type Encoder interface {
	AppendSpliced(dst []byte, id int, schema codec.Schema, v any, spliced ...codec.Spliced) ([]byte, error)
}

// Registry registers a schema under a subject and returns its id. *codec.Registry satisfies it.
type Registry interface {
	Register(ctx context.Context, subject string, schema codec.Schema) (int, error)
}

// Producer writes messages in order and returns once all are acknowledged, or with an error.
// *kafka.Client satisfies it.
//
// Once Publish returned nil it must not keep msgs, nor the bytes they point to: the Publisher
// reuses them for its next batch. After an error it may still be sending some of them (kafka-go
// goes on with the writes it accepted when a call gives up waiting for their verdict): the
// Publisher then never touches that memory again.
type Producer interface {
	Publish(ctx context.Context, msgs []kafka.Message) error
}

// SizeLimiter is a Producer that can tell, before sending, that a message does not fit its
// topic. *kafka.Client satisfies it. With one the Publisher reads the topics' limits before its
// first send and leaves out every event whose message would not fit (see SkipError), instead of
// failing the batch that holds it.
type SizeLimiter interface {
	// MessageLimits reads the largest message each topic takes and keeps them for CheckSize.
	MessageLimits(ctx context.Context, topics ...string) (map[string]int, error)
	// CheckSize returns an error matching kafka.ErrTooLarge (a *kafka.TooLargeError) for a
	// message its topic does not take.
	CheckSize(m kafka.Message) error
}

// DefaultBatchSize is how many events one producer call carries by default.
const DefaultBatchSize = 5000

// Config configures a Publisher.
type Config struct {
	// TopicPrefix is the topic prefix: events of entity e go to <TopicPrefix>.<e>. Required.
	TopicPrefix string
	// Entities are the entities published; default every entity (change.Entities).
	Entities []change.Entity
	Encoder  Encoder  // required
	Registry Registry // required
	Producer Producer // required
	// BatchSize is the number of events per producer call (default DefaultBatchSize).
	BatchSize int
}

type topic struct {
	name   string
	schema codec.Schema
	id     int // 0 until registered
}

// Publisher publishes change events and applies them to a state store. Publish calls must not
// overlap.
type Publisher struct {
	enc       Encoder
	reg       Registry
	prod      Producer
	batchSize int
	topics    map[change.Entity]*topic
	buffers   sync.Pool   // *buffers of batches already sent
	sizer     SizeLimiter // prod, when it can check sizes; else nil
	limits    bool        // sizer's limits were read
}

// New checks cfg and parses the entity schemas. Call Register before the first Publish.
func New(cfg Config) (*Publisher, error) {
	var errs []error
	if cfg.TopicPrefix == "" {
		errs = append(errs, errors.New("publish: topic prefix is required"))
	}
	if cfg.Encoder == nil {
		errs = append(errs, errors.New("publish: encoder is required"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("publish: registry is required"))
	}
	if cfg.Producer == nil {
		errs = append(errs, errors.New("publish: producer is required"))
	}
	if cfg.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("publish: batch size must be > 0, got %d", cfg.BatchSize))
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if len(cfg.Entities) == 0 {
		cfg.Entities = change.Entities()
	}
	p := &Publisher{enc: cfg.Encoder, reg: cfg.Registry, prod: cfg.Producer, batchSize: cfg.BatchSize,
		topics: make(map[change.Entity]*topic, len(cfg.Entities))}
	p.sizer, _ = cfg.Producer.(SizeLimiter)
	for _, e := range cfg.Entities {
		s, err := schemas.Parse(string(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("publish: schema of %s: %w", e, err))
			continue
		}
		p.topics[e] = &topic{name: Topic(cfg.TopicPrefix, e), schema: s}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Topic returns the topic of an entity: <prefix>.<entity>.
func Topic(prefix string, e change.Entity) string { return prefix + "." + string(e) }

// Topic returns the topic the Publisher writes an entity's events to.
func (p *Publisher) Topic(e change.Entity) string {
	if t, ok := p.topics[e]; ok {
		return t.name
	}
	return ""
}

// Register registers every entity schema under its subject (<topic>-value) and takes the ids
// the registry answers. It asks the registry every time, so that a *codec.Registry confirms each
// id again: call it before every Publish that must not go out under an id the registry has
// meanwhile given to another schema. A schema whose registration fails has no id until a later
// Register succeeds, so Publish refuses its entity with ErrNotRegistered.
func (p *Publisher) Register(ctx context.Context) error {
	var errs []error
	for e, t := range p.topics {
		id, err := p.reg.Register(ctx, codec.Subject(t.name), t.schema)
		if err != nil {
			t.id = 0
			errs = append(errs, fmt.Errorf("publish: register schema of %s: %w", e, err))
			continue
		}
		t.id = id
	}
	return errors.Join(errs...)
}

// Registered reports whether every schema has an id.
func (p *Publisher) Registered() bool {
	for _, t := range p.topics {
		if t.id == 0 {
			return false
		}
	}
	return true
}

// Counts are acknowledged events by op.
type Counts map[change.Op]int

// prepared is a batch ready to send: its messages and, once done is closed, the state entry
// each event leaves behind (or entriesErr). Entries are computed while the batch is in flight
// and applied only once Kafka acknowledged it.
type prepared struct {
	seq        int64 // position among the batches of one Publish call
	events     []change.Event
	msgs       []kafka.Message
	buf        *buffers // what msgs point into
	skipped    []skipped
	skip       []bool // by event: left out (nil when none was)
	entries    []state.Entry
	entriesErr error
	done       chan struct{}
}

// Publish sends events in order, in batches, and applies each batch to store once Kafka
// acknowledged all of it. It returns the counts of what was acknowledged and applied. On error
// nothing more is sent; when some messages may have reached Kafka without being applied, the
// error matches ErrStateUnknown.
//
// With a SizeLimiter as producer, an event whose message its topic would refuse as too large
// is left out: it is not sent and not applied, so its key keeps its state and the next sync
// computes the same event again. Every other event is published as usual. Publish then returns
// a *SkipError listing what it left out (joined to the error that stopped it, if any).
//
// Batches go to the producer one after another, never two at once, so messages keep their
// order. While a batch is in flight the state entries it leaves are computed and the next
// batch is encoded; the batch acknowledged before is applied to store meanwhile.
func (p *Publisher) Publish(ctx context.Context, store state.Store, events []change.Event) (Counts, error) {
	counts := Counts{}
	if len(events) == 0 {
		return counts, nil
	}
	if !p.Registered() {
		return counts, ErrNotRegistered
	}
	if p.sizer != nil && !p.limits {
		topics := make([]string, 0, len(p.topics))
		for _, t := range p.topics {
			topics = append(topics, t.name)
		}
		if _, err := p.sizer.MessageLimits(ctx, topics...); err != nil {
			return counts, fmt.Errorf("publish: read the topics' message limits: %w", err)
		}
		p.limits = true
	}
	// stop ends encoding and sending early after a failure; a producer call already made
	// runs to its end under ctx so that its outcome is known.
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan *prepared, 1) // encoded, not yet sent
	acked := make(chan *prepared, 1) // acknowledged, not yet applied
	var encErr, sendErr error
	// stopAt is the first batch not to send: one whose entries could not be computed.
	var stopAt atomic.Int64
	stopAt.Store(math.MaxInt64)
	go func() {
		defer close(ready)
		for seq, start := int64(0), 0; start < len(events); seq, start = seq+1, start+p.batchSize {
			batch := events[start:min(start+p.batchSize, len(events))]
			afters := make([][]byte, len(batch))
			buf := p.getBuffers()
			msgs, skips, err := p.encodeAll(batch, afters, buf)
			if err != nil {
				encErr = err // nothing of this batch was sent
				return
			}
			b := &prepared{seq: seq, events: batch, msgs: msgs, buf: buf, skipped: skips,
				entries: make([]state.Entry, len(batch)), done: make(chan struct{})}
			if len(skips) > 0 {
				b.skip = make([]bool, len(batch))
				for _, sk := range skips {
					b.skip[sk.index] = true
				}
			}
			select {
			case ready <- b:
			case <-stop.Done():
				return
			}
			b.entriesErr = p.entriesAll(batch, afters, b.skip, b.entries)
			if b.entriesErr != nil {
				// The batch cannot be applied: send nothing more, this batch neither if
				// it is not on its way yet.
				encErr = b.entriesErr
				stopAt.Store(seq)
				close(b.done)
				return
			}
			close(b.done)
		}
	}()
	go func() {
		defer close(acked)
		for b := range ready {
			if sendErr != nil || b.seq >= stopAt.Load() {
				continue // drain so that the encoder ends
			}
			if err := ctx.Err(); err != nil {
				sendErr = err // nothing of this batch was sent
				cancel()
				continue
			}
			err := p.prod.Publish(ctx, b.msgs)
			b.msgs = nil
			if err == nil {
				// Every message has its verdict: the producer keeps nothing of them. After an
				// error it may still be sending some (see Producer), so the batch's memory is
				// left to the garbage collector, never reused.
				p.buffers.Put(b.buf)
			}
			if err != nil {
				sendErr = fmt.Errorf("publish: %w: %w", ErrStateUnknown, err)
				cancel()
				continue
			}
			acked <- b // the loop below takes every batch
		}
	}()
	applied := 0 // events applied or left out
	var applyErr error
	var skips []Skip
	for b := range acked {
		<-b.done
		if applyErr == nil && b.entriesErr != nil {
			applyErr = fmt.Errorf("publish: %w: %w", ErrStateUnknown, b.entriesErr)
		}
		if applyErr != nil {
			continue // acknowledged but not applied: the error says the state is unknown
		}
		applied += len(b.events)
		for _, sk := range b.skipped {
			skips = append(skips, sk.Skip)
		}
		for i, ev := range b.events {
			if b.skip != nil && b.skip[i] {
				continue // not sent: the key keeps its state
			}
			if ev.Op == change.Delete {
				store.Delete(ev.Entity, ev.Key, ev.Version)
			} else {
				store.Put(ev.Entity, ev.Key, b.entries[i])
			}
			counts[ev.Op]++
		}
	}
	// Both goroutines have ended: acked is closed once ready was drained, and ready is
	// closed when the encoder returns.
	var err error
	switch {
	case applyErr != nil:
		err = applyErr
	case sendErr != nil:
		err = sendErr
	case encErr != nil:
		err = encErr
	case applied < len(events):
		// The encoder stopped on a cancelled ctx between two batches.
		err = context.Cause(stop)
	}
	if len(skips) > 0 {
		// Alone when everything else went out; after the error that stopped the rest if not.
		if err == nil {
			return counts, &SkipError{Skipped: skips}
		}
		return counts, errors.Join(err, &SkipError{Skipped: skips})
	}
	return counts, err
}

// buffers are the memory of one batch's messages, reused from batch to batch: the message
// list and, per chunk encoded on a core of its own, the chunk's arenas.
type buffers struct {
	msgs   []kafka.Message
	chunks []*chunkBuffers
}

// chunkBuffers are the arenas messages cuts a chunk's messages from.
type chunkBuffers struct {
	msgs    []kafka.Message
	text    []byte // the keys and the header values
	headers []kafka.Header
	skipped []skipped // events of the chunk left out, by index in the chunk
}

// skipped is an event left out of a batch, by its index in the batch (or chunk).
type skipped struct {
	index int
	Skip
}

func (p *Publisher) getBuffers() *buffers {
	if b, ok := p.buffers.Get().(*buffers); ok {
		return b
	}
	return &buffers{}
}

// encodeAll encodes a batch split over the available cores (see messages), into buf. It also
// returns the events it left out, by index in events.
func (p *Publisher) encodeAll(events []change.Event, afters [][]byte, buf *buffers) ([]kafka.Message, []skipped, error) {
	k := chunks(len(events))
	for len(buf.chunks) < k {
		buf.chunks = append(buf.chunks, &chunkBuffers{})
	}
	los := make([]int, k)
	err := inChunks(len(events), func(w, lo, hi int) error {
		los[w] = lo
		return p.messages(events[lo:hi], afters[lo:hi], buf.chunks[w])
	})
	if err != nil {
		return nil, nil, err
	}
	var skips []skipped
	for w, c := range buf.chunks[:k] {
		for _, sk := range c.skipped {
			sk.index += los[w]
			skips = append(skips, sk)
		}
	}
	if k == 1 {
		return buf.chunks[0].msgs, skips, nil
	}
	msgs := buf.msgs[:0]
	for _, c := range buf.chunks[:k] {
		msgs = append(msgs, c.msgs...)
	}
	buf.msgs = msgs
	return msgs, skips, nil
}

// entriesAll sets entries[i] to the state entry events[i] leaves behind (none for a delete or
// an event left out, skip[i]), split over the available cores. afters[i], when not nil, is the
// encoding of events[i].After that messages made.
func (p *Publisher) entriesAll(events []change.Event, afters [][]byte, skip []bool, entries []state.Entry) error {
	return inChunks(len(events), func(_, lo, hi int) error {
		for i := lo; i < hi; i++ {
			if events[i].Op == change.Delete || skip != nil && skip[i] {
				continue
			}
			if afters[i] != nil && !events[i].Hash.IsZero() {
				entries[i] = state.EntryFromData(events[i].Version, events[i].Hash, afters[i])
				continue
			}
			e, err := state.EntryFromEvent(events[i])
			if err != nil {
				return fmt.Errorf("publish: state entry of %s: %w", events[i], err)
			}
			entries[i] = e
		}
		return nil
	})
}

// chunks is the number of goroutines inChunks uses for n items.
func chunks(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n/minChunk))
}

// inChunks calls fn for consecutive ranges [lo, hi) covering [0, n), each on a goroutine of
// its own, and returns the error of the earliest range that failed.
func inChunks(n int, fn func(w, lo, hi int) error) error {
	k := chunks(n)
	if k == 1 {
		return fn(0, 0, n)
	}
	size := (n + k - 1) / k
	errs := make([]error, k)
	var wg sync.WaitGroup
	for w := range k {
		lo, hi := w*size, min((w+1)*size, n)
		wg.Go(func() { errs[w] = fn(w, lo, hi) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// minChunk is the fewest events worth encoding on a goroutine of their own.
const minChunk = 256

// messages encodes events into cb.msgs: one message per event (value), plus a tombstone after
// every delete. It sets afters[i] to the encoding of events[i].After, for the state entry.
// The keys with the header values, and the headers are cut from cb's arenas, which grow when
// they are short and are kept for the next batch. An event whose message the SizeLimiter
// refuses as too large gets no message (and no after) and is listed in cb.skipped.
func (p *Publisher) messages(events []change.Event, afters [][]byte, cb *chunkBuffers) error {
	cb.skipped = cb.skipped[:0]
	if n := len(events) + len(events)/8; cap(cb.msgs) < n {
		cb.msgs = make([]kafka.Message, 0, n)
	}
	if n := 4 * len(events); cap(cb.headers) < n {
		cb.headers = make([]kafka.Header, 0, n)
	}
	size := 0
	for i := range events {
		size += len(events[i].Key) + len(events[i].EventID) + len(events[i].Op) + len(events[i].Source.Tenant) + len(events[i].Entity)
	}
	if cap(cb.text) < size {
		cb.text = make([]byte, 0, size)
	}
	msgs, text, headers := cb.msgs[:0], cb.text[:0], cb.headers[:0]
	defer func() { cb.msgs, cb.text, cb.headers = msgs, text, headers }()
	cut := func(b []byte, at int) []byte { return b[at:len(b):len(b)] }
	for i, ev := range events {
		t, ok := p.topics[ev.Entity]
		if !ok {
			return fmt.Errorf("publish: no topic for entity %q", ev.Entity)
		}
		m0, t0, h0 := len(msgs), len(text), len(headers)
		var value []byte
		var err error
		if value, afters[i], err = p.value(t, ev); err != nil {
			return fmt.Errorf("publish: encode %s: %w", ev, err)
		}
		at := len(text)
		text = append(text, ev.Key...)
		key := cut(text, at)
		h := len(headers)
		for _, kv := range ev.Headers() {
			at := len(text)
			text = append(text, kv[1]...)
			headers = append(headers, kafka.Header{Key: kv[0], Value: cut(text, at)})
		}
		msgs = append(msgs, kafka.Message{Topic: t.name, Key: key, Value: value, Headers: headers[h:len(headers):len(headers)]})
		if p.sizer != nil {
			// The tombstone after a delete is smaller than the "d" event: checking this
			// message is enough.
			if err := p.sizer.CheckSize(msgs[len(msgs)-1]); err != nil {
				var tl *kafka.TooLargeError
				if !errors.As(err, &tl) {
					return fmt.Errorf("publish: size of %s: %w", ev, err)
				}
				msgs, text, headers = msgs[:m0], text[:t0], headers[:h0]
				afters[i] = nil
				cb.skipped = append(cb.skipped, skipped{index: i,
					Skip: Skip{Entity: ev.Entity, Reason: ReasonTooLarge, Size: tl.Size, Limit: tl.Limit}})
				continue
			}
		}
		if ev.Op == change.Delete {
			// The tombstone carries the event's tenant and entity headers.
			k := len(headers)
			for _, hd := range headers[h:k] {
				if hd.Key == "tenant" || hd.Key == "entity" {
					headers = append(headers, hd)
				}
			}
			msgs = append(msgs, kafka.Message{Topic: t.name, Key: key, Headers: headers[k:len(headers):len(headers)]})
		}
	}
	return nil
}

// value returns the wire-format value of ev, its envelope encoded with the entity's schema,
// and the encoding of its after record (nil for none). Each record is encoded once: the
// differ's encoding of the after record (ev.AfterData, which the state entry keeps too) and
// the before image as the state held it (ev.BeforeData) are spliced into the envelope as
// they are; a record without them is encoded here.
func (p *Publisher) value(t *topic, ev change.Event) (value, after []byte, err error) {
	if err := ev.Check(); err != nil {
		return nil, nil, err
	}
	before, after := ev.BeforeData, ev.AfterData
	if before == nil && ev.Before != nil {
		if before, err = change.AppendRecord(nil, ev.Before); err != nil {
			return nil, nil, err
		}
	}
	if after == nil && ev.After != nil {
		if after, err = change.AppendRecord(nil, ev.After); err != nil {
			return nil, nil, err
		}
	}
	bare := ev
	bare.Before, bare.After = nil, nil
	env, err := bare.Envelope()
	if err != nil {
		return nil, nil, err
	}
	value, err = p.enc.AppendSpliced(nil, t.id, t.schema, env,
		codec.Spliced{Field: "before", Data: before}, codec.Spliced{Field: "after", Data: after})
	return value, after, err
}
