package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TxnProducer publishes one tenant's messages in Kafka transactions under one transactional
// id, so that only the instance that owns the tenant can publish for it: taking the id over
// (NewTxnProducer, Acquire) fences every earlier producer of the id, whose open transaction
// the broker aborts and whose later writes fail with ErrFenced. A paused instance that wakes
// up after its tenants moved therefore cannot publish for them, whatever it believes about
// its group membership. Readers of the topics must read with isolation level read_committed
// (this package's reads do) not to see a fenced producer's aborted writes.
//
// It is built on franz-go's kgo client, which implements Kafka's transactional producer;
// kafka-go has none. Messages are partitioned by murmur2 of the key exactly like Client.Publish
// and the Java client. A TxnProducer is safe for concurrent use; Publish calls run one after
// another, each its own transaction. Close it when done.
type TxnProducer struct {
	id      string
	cfg     Config
	cl      *kgo.Client
	sizes   *Client // MessageLimits and CheckSize; owned when ownSizes
	own     bool
	metrics *txnMetrics
	logger  *slog.Logger

	beforeCommit func() // see TxnBeforeCommit

	mu       sync.Mutex // one transaction at a time
	acquired bool
	fenced   error // the error that fenced this producer, once one did
	closed   bool
}

// TxnOption configures a TxnProducer.
type TxnOption func(*txnOptions)

type txnOptions struct {
	sizes        *Client
	txnTimeout   time.Duration
	noAcquire    bool
	beforeCommit func()
}

// TxnSizeLimits makes the producer take the message limits of c (see Client.MessageLimits and
// CheckSize) instead of reading them itself: the service's shared client, read once for all
// tenants. Without it the producer asks the brokers once, on the first MessageLimits.
func TxnSizeLimits(c *Client) TxnOption { return func(o *txnOptions) { o.sizes = c } }

// TxnTimeout is the transaction.timeout.ms the producer asks for (default 60 s): how long the
// coordinator lets a transaction stay open before it aborts it. It bounds how long the
// topics' last stable offset, and with it every read_committed reader, can be held back by a
// producer that stopped in the middle of a transaction and is never fenced.
func TxnTimeout(d time.Duration) TxnOption { return func(o *txnOptions) { o.txnTimeout = d } }

// TxnLazy makes NewTxnProducer return without fencing anyone: call Acquire before the first
// Publish (Publish calls it otherwise).
func TxnLazy() TxnOption { return func(o *txnOptions) { o.noAcquire = true } }

// TxnBeforeCommit runs fn in every Publish after the transaction's records were acknowledged
// and before its commit. Tests use it to stop a producer where an instance paused by SIGSTOP
// between its writes and its commit would be.
func TxnBeforeCommit(fn func()) TxnOption { return func(o *txnOptions) { o.beforeCommit = fn } }

// DefaultTxnTimeout is the default TxnTimeout.
const DefaultTxnTimeout = 60 * time.Second

// NewTxnProducer validates cfg and returns a producer for transactionalID, conventionally
// "<group>.<tenant>" (TxnID). Unless TxnLazy is given it calls Acquire before returning, so
// that when it returns no earlier producer of the id can publish any more and none of their
// transactions is still open: the caller may then read the topics (the state rebuild) and
// publish. cfg's Registerer receives the metrics (give each tenant's producer a registerer
// wrapped with its tenant label); its Logger the warnings.
func NewTxnProducer(ctx context.Context, cfg Config, transactionalID string, opts ...TxnOption) (*TxnProducer, error) {
	o := txnOptions{txnTimeout: DefaultTxnTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	cfg.setDefaults()
	errs := []error{cfg.validate()}
	if transactionalID == "" {
		errs = append(errs, errors.New("kafka transactional id is required"))
	}
	if o.txnTimeout <= 0 {
		errs = append(errs, fmt.Errorf("kafka transaction timeout %v must be positive", o.txnTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := &TxnProducer{id: transactionalID, cfg: cfg, sizes: o.sizes, beforeCommit: o.beforeCommit,
		metrics: newTxnMetrics(cfg.Registerer),
		logger:  cfg.Logger.With("component", "kafka", "transactional_id", transactionalID)}
	if p.sizes == nil {
		sc := cfg
		sc.Registerer = nil // it only reads limits; its write metrics would stay empty
		c, err := New(sc)
		if err != nil {
			return nil, err
		}
		p.sizes, p.own = c, true
	}
	kopts, err := p.kgoOptions(o)
	if err != nil {
		p.closeSizes()
		return nil, err
	}
	if p.cl, err = kgo.NewClient(kopts...); err != nil {
		p.closeSizes()
		return nil, fmt.Errorf("kafka: transactional producer %s: %w", transactionalID, err)
	}
	if !o.noAcquire {
		if err := p.Acquire(ctx); err != nil {
			_ = p.Close()
			return nil, err
		}
	}
	return p, nil
}

// TxnID is the transactional id of a tenant's producer in the deployment whose instances form
// the consumer group group: "<group>.<tenant>".
func TxnID(group, tenant string) string { return group + "." + tenant }

func (p *TxnProducer) kgoOptions(o txnOptions) ([]kgo.Opt, error) {
	cfg := p.cfg
	kopts, err := cfg.FranzOpts() // brokers, client id, dial timeout, TLS, SASL, the logger
	if err != nil {
		return nil, err
	}
	kopts = append(kopts,
		kgo.TransactionalID(p.id),
		kgo.TransactionTimeout(o.txnTimeout),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 like the Java client
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProduceRequestTimeout(cfg.WriteTimeout),
		kgo.RecordDeliveryTimeout(time.Duration(cfg.MaxAttempts)*cfg.WriteTimeout),
		kgo.ProducerLinger(0),
		// No topic is created by producing to it.
		kgo.UnknownTopicRetries(2),
		kgo.ProducerBatchMaxBytesFn(p.batchLimit),
		kgo.MaxBufferedRecords(max(cfg.BatchSize*10, 10000)),
	)
	switch strings.ToLower(cfg.Compression) {
	case CompressionGzip:
		kopts = append(kopts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case CompressionSnappy:
		kopts = append(kopts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case CompressionLz4:
		kopts = append(kopts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case CompressionZstd:
		kopts = append(kopts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		kopts = append(kopts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	return kopts, nil
}

// batchLimit is the largest record batch kgo may send to topic: the topic's max.message.bytes
// as MessageLimits read it (the smallest known before), at most Config.BatchBytes.
func (p *TxnProducer) batchLimit(topic string) int32 {
	p.sizes.writeMu.RLock()
	limit, ok := p.sizes.limits[topic]
	if !ok {
		limit = p.sizes.least
	}
	p.sizes.writeMu.RUnlock()
	return int32(min(int64(limit), p.cfg.BatchBytes+recordBatchOverhead))
}

// acquireRetries is how often Acquire retries a retryable failure, with retryBackoff's pauses.
const acquireRetries = 8

// Acquire takes the transactional id over: it initialises the producer id with the
// transaction coordinator, which bumps the id's epoch, fences every earlier producer of the
// id (their next write or commit fails with ErrFenced) and aborts the transaction one of them
// left open, waiting until that abort is complete (the coordinator answers
// CONCURRENT_TRANSACTIONS meanwhile, which is retried). It returns nil at once when this
// producer already acquired the id, ErrFenced when a later producer took it away.
func (p *TxnProducer) Acquire(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acquire(ctx)
}

func (p *TxnProducer) acquire(ctx context.Context) error {
	if p.closed {
		return ErrClosed
	}
	if p.fenced != nil {
		return p.fenced
	}
	if p.acquired {
		return nil
	}
	for round := 0; ; round++ {
		_, _, err := p.cl.ProducerID(ctx)
		if err == nil {
			p.acquired = true
			p.metrics.acquired.Inc()
			return nil
		}
		te := p.classify("acquire", err)
		if err = te; te.Fenced || !Retryable(err) || round >= acquireRetries || ctx.Err() != nil {
			return err
		}
		p.logger.WarnContext(ctx, "retrying to acquire the transactional id", "round", round+1, "err", err)
		if err := sleep(ctx, retryBackoff(round)); err != nil {
			return err
		}
	}
}

// Publish writes msgs in one transaction and commits it. It returns nil once the transaction
// is committed: every message was acknowledged by all in-sync replicas and is visible to
// read_committed readers, in order within each key. Any failure aborts the transaction, so
// that no message of the call becomes visible to them, and returns an error for which Acked
// is false for every message: the caller keeps its state and publishes the same changes again
// later (only when the commit's answer was lost may the call's messages have been committed;
// the error says the outcome is not known then, and a state rebuilt from the topics tells).
//
// The coordinator writes the commit's markers to the partitions a moment after Publish
// returned; only then do read_committed readers see the messages (a read that starts earlier
// ends before them). A producer that acquires the id waits for those markers, so the state a
// new owner rebuilds holds every transaction committed before it.
//
// When a later producer took the transactional id over, the error matches ErrFenced: the
// tenant is no longer this instance's, and no retry will change that.
//
// Cancelling ctx aborts the transaction. Publish returns only when no message of the call is
// buffered any more, so the caller may reuse msgs' memory whatever it returns.
func (p *TxnProducer) Publish(ctx context.Context, msgs []Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.fenced != nil {
		return p.fenced
	}
	if len(msgs) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Topic == "" {
			return fmt.Errorf("kafka: publish: message %d has no topic", i)
		}
		r := &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
		if len(m.Headers) > 0 {
			r.Headers = make([]kgo.RecordHeader, len(m.Headers))
			for j, h := range m.Headers {
				r.Headers[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		recs[i] = r
	}
	if err := p.acquire(ctx); err != nil {
		return p.failed(msgs, fmt.Errorf("kafka: publish %d messages: %w", len(msgs), err))
	}
	start := time.Now()
	defer func() { p.metrics.duration.Observe(time.Since(start).Seconds()) }()
	if err := p.cl.BeginTransaction(); err != nil {
		return p.failed(msgs, p.abort(ctx, "begin", err))
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return p.failed(msgs, p.abort(ctx, "produce", err))
	}
	if p.beforeCommit != nil {
		p.beforeCommit()
	}
	if err := ctx.Err(); err != nil {
		// Everything was acknowledged but the caller gave up: do not commit.
		return p.failed(msgs, p.abort(ctx, "produce", err))
	}
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.WriteTimeout)
	defer cancel()
	if err := p.cl.EndTransaction(commitCtx, kgo.TryCommit); err != nil {
		return p.failed(msgs, p.abort(ctx, "commit", err))
	}
	p.metrics.commits.Inc()
	p.countWritten(msgs)
	return nil
}

// abort ends the open transaction with an abort after a failure in step, and returns the
// error to report: a *TxnError, matching ErrFenced when a later producer took the id over.
func (p *TxnProducer) abort(ctx context.Context, step string, cause error) error {
	te := p.classify(step, cause)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.WriteTimeout)
	defer cancel()
	// Fail what is still buffered, then end the transaction with an abort (a fenced
	// producer's abort fails: the coordinator aborted its transaction already).
	if err := p.cl.AbortBufferedRecords(actx); err != nil {
		p.logger.WarnContext(ctx, "could not drop the buffered records of a failed transaction", "err", err)
	}
	if err := p.cl.EndTransaction(actx, kgo.TryAbort); err != nil {
		ae := p.classify("abort", err)
		switch {
		case te.Fenced:
		case ae.Fenced:
			te.Fenced = true
		default:
			// Not committed unless a lost commit answer hid a commit (Unknown); an open
			// transaction is invisible to read_committed readers and the coordinator aborts
			// it after the transaction timeout, or the next acquire does.
			te.Err = errors.Join(te.Err, fmt.Errorf("abort: %w", err))
		}
	} else {
		te.Unknown = false // the abort succeeded: the commit did not
	}
	reason := step
	if te.Fenced {
		reason = "fenced"
	}
	p.metrics.aborts.WithLabelValues(reason).Inc()
	return te
}

// classify wraps a kgo error of step as a *TxnError, marking the producer fenced when the
// error says a later producer took the transactional id over.
func (p *TxnProducer) classify(step string, err error) *TxnError {
	var te *TxnError
	if errors.As(err, &te) {
		return te
	}
	te = &TxnError{ID: p.id, Step: step, Unknown: step == "commit", Err: err}
	if fencedBy(step, err) {
		te.Fenced = true
		if p.fenced == nil {
			p.fenced = te
			p.metrics.fenced.Inc()
			p.logger.Warn("fenced: another producer took the transactional id over; this instance no longer publishes for it",
				"step", step, "err", err)
		}
	}
	return te
}

// fencedBy reports whether a kgo error of step says that this producer lost the transactional
// id: PRODUCER_FENCED from the coordinator or INVALID_PRODUCER_EPOCH from a partition leader
// that saw a later epoch's records (what Apache Kafka answers a fenced producer), or
// INVALID_TXN_STATE to a commit: the coordinator ended the transaction with an abort before
// the commit came, which a takeover does (some brokers answer a fenced commit so) and the
// transaction timeout too. After that answer kgo fails the producer for good, so a producer
// that only timed out cannot go on either: its id must be acquired again, which is for the
// owner of the tenant to decide, never for the producer itself.
func fencedBy(step string, err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		step == "commit" && errors.Is(err, kerr.InvalidTxnState)
}

// failed counts the messages of a failed call and returns err.
func (p *TxnProducer) failed(msgs []Message, err error) error {
	r := reason(err)
	for i := range msgs {
		p.metrics.writeErrors.WithLabelValues(msgs[i].Topic, r).Inc()
	}
	return err
}

func (p *TxnProducer) countWritten(msgs []Message) {
	n := map[string]float64{}
	for i := range msgs {
		n[msgs[i].Topic]++
	}
	for t, k := range n {
		p.metrics.written.WithLabelValues(t).Add(k)
	}
}

// MessageLimits reads and keeps the largest record batch each topic takes (see
// Client.MessageLimits); with TxnSizeLimits it is the shared client's.
func (p *TxnProducer) MessageLimits(ctx context.Context, topics ...string) (map[string]int, error) {
	return p.sizes.MessageLimits(ctx, topics...)
}

// CheckSize returns a *TooLargeError when m cannot reach its topic (see Client.CheckSize).
func (p *TxnProducer) CheckSize(m Message) error { return p.sizes.CheckSize(m) }

// Fenced returns the error that fenced this producer, or nil while none did.
func (p *TxnProducer) Fenced() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fenced
}

// Close waits for a Publish in progress, then closes the producer. It is safe to call more
// than once.
func (p *TxnProducer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.cl.Close()
	p.closeSizes()
	return nil
}

func (p *TxnProducer) closeSizes() {
	if p.own {
		_ = p.sizes.Close()
	}
}

// TxnError is a failed transaction of a TxnProducer. Nothing of it is visible to read_committed
// readers, unless Unknown: the commit's answer was lost and the abort failed too, so the
// transaction may have been committed.
type TxnError struct {
	ID      string // the transactional id
	Step    string // acquire, begin, produce, commit
	Fenced  bool   // a later producer took the transactional id over (ErrFenced)
	Unknown bool   // the commit's outcome is not known
	Err     error
}

// Error implements error.
func (e *TxnError) Error() string {
	what := "transaction aborted"
	switch {
	case e.Fenced:
		what = "fenced: another producer took the transactional id over"
	case e.Unknown:
		what = "transaction outcome unknown"
	}
	return fmt.Sprintf("kafka: transactional id %s: %s (%s): %v", e.ID, what, e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *TxnError) Unwrap() error { return e.Err }

// Is makes a fenced *TxnError match ErrFenced.
func (e *TxnError) Is(target error) bool { return target == ErrFenced && e.Fenced }
