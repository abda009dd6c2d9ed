package tenant

import (
	"context"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// TopicReader reads a topic from its first offset to the end it had when the call started.
// *kafka.Client is one.
type TopicReader interface {
	ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error
}

// DefaultGather is how long a read of a shared topic waits for the other tenants expected to
// read it (see Replay) before it starts without them.
const DefaultGather = 30 * time.Second

// Replay shares the reads of the topics between the tenants of one process. The topics are
// shared, keyed "<tenant>:<id>": every tenant's state rebuild used to read every topic whole and
// keep what it found, so N tenants cost N reads of everything. A Replay reads a topic once for
// every tenant that wants it at that moment and hands each record to the reader of the tenant
// its key names (a key of no waiting tenant is skipped), so each tenant's store holds only its
// own keys.
//
// A round of a topic starts when every tenant expected to read it (Expect: a tenant just
// started, whose first sync rebuilds its state) is waiting, or when the first waiter has
// waited Gather: tenants started together cost one read of each topic. A tenant that reads
// later (started later, or rebuilding after a failure) starts a round of its own at once unless
// others are expected; tenants waiting while a round runs share the next one. Correctness never
// depends on the timing: each waiter reads the topic from its first offset to an end taken after
// it began waiting, as kafka.Client.ReadToEnd does.
type Replay struct {
	reader TopicReader
	gather time.Duration
	reads  *prometheus.CounterVec

	mu     gosync.Mutex
	topics map[string]*topicRounds
}

// NewReplay returns a Replay reading through reader; gather ≤ 0 means DefaultGather. reg
// (optional) receives personio_cdc_state_topic_reads_total.
func NewReplay(reader TopicReader, gather time.Duration, reg prometheus.Registerer) *Replay {
	if gather <= 0 {
		gather = DefaultGather
	}
	return &Replay{reader: reader, gather: gather, topics: map[string]*topicRounds{},
		reads: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_state_topic_reads_total",
			Help: "Whole reads of a topic for the state of the tenants waiting for it (one read serves every tenant that waits).",
		}, []string{"topic"})}
}

// topicRounds is the state of one topic; Replay.mu guards it.
type topicRounds struct {
	expected map[string]bool // tenants whose read of the topic is still to come
	waiting  []*waiter       // for the next round
	running  bool
	timer    *time.Timer // the gather deadline of the next round
}

// waiter is one tenant's ReadToEnd waiting for, or inside, a round.
type waiter struct {
	tenant string
	fn     func(kafka.Record) error
	done   chan struct{} // closed when the round ended for it
	mu     gosync.Mutex  // held while fn runs
	out    bool          // gone or failed: fn is not called again
	err    error         // fn's error, or the read's
	round  *round        // set when its round starts; under mu
}

// round is one read of a topic for the waiters that share it.
type round struct {
	cancel context.CancelFunc
	live   atomic.Int32 // waiters still reading; the read stops at 0
}

// drop takes the waiter out of its round; w.mu is held.
func (w *waiter) drop() {
	if w.out {
		return
	}
	w.out = true
	if w.round != nil && w.round.live.Add(-1) == 0 {
		w.round.cancel()
	}
}

// call hands rec to the waiter unless it is out.
func (w *waiter) call(rec kafka.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out {
		return
	}
	if err := w.fn(rec); err != nil {
		w.err = err
		w.drop()
	}
}

// leave marks the waiter gone: its caller returns, fn is not called again.
func (w *waiter) leave() {
	w.mu.Lock()
	w.drop()
	w.mu.Unlock()
}

func (r *Replay) rounds(topic string) *topicRounds {
	t := r.topics[topic]
	if t == nil {
		t = &topicRounds{expected: map[string]bool{}}
		r.topics[topic] = t
	}
	return t
}

// Expect says that tenant is about to read the topics: a round of each starts only once it
// waits too (or Gather passed, or Forget withdrew it).
func (r *Replay) Expect(tenant string, topics []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, topic := range topics {
		r.rounds(topic).expected[tenant] = true
	}
}

// Forget withdraws tenant's expected reads (its first sync ended, or it stopped): the rounds
// waiting for it start without it.
func (r *Replay) Forget(tenant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, t := range r.topics {
		if t.expected[tenant] {
			delete(t.expected, tenant)
			r.maybeStart(topic, t, false)
		}
	}
}

// Reader returns tenant's view: ReadToEnd of a topic yields the records whose key starts with
// "<tenant>:", from a round shared with the other tenants. It satisfies the TopicReader of the
// sync runner, the erasure list and the refresh journal.
func (r *Replay) Reader(tenant string) TopicReader { return tenantReader{r: r, tenant: tenant} }

type tenantReader struct {
	r      *Replay
	tenant string
}

func (t tenantReader) ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error {
	return t.r.read(ctx, t.tenant, topic, fn)
}

// read waits for the next round of topic and returns when it ended for this caller.
func (r *Replay) read(ctx context.Context, tenant, topic string, fn func(kafka.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &waiter{tenant: tenant, fn: fn, done: make(chan struct{})}
	r.mu.Lock()
	t := r.rounds(topic)
	t.waiting = append(t.waiting, w)
	delete(t.expected, tenant)
	r.maybeStart(topic, t, false)
	r.mu.Unlock()
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		w.leave()
		r.mu.Lock()
		for i, x := range t.waiting {
			if x == w {
				t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
		return ctx.Err()
	}
}

// maybeStart starts the next round of topic when one waits and none runs, if every expected
// tenant waits or force (Gather passed); otherwise it arms the gather timer. r.mu is held.
func (r *Replay) maybeStart(topic string, t *topicRounds, force bool) {
	if t.running || len(t.waiting) == 0 {
		return
	}
	if len(t.expected) > 0 && !force {
		if t.timer == nil {
			t.timer = time.AfterFunc(r.gather, func() {
				r.mu.Lock()
				defer r.mu.Unlock()
				t.timer = nil
				r.maybeStart(topic, t, true)
			})
		}
		return
	}
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	round := t.waiting
	t.waiting, t.running = nil, true
	go r.run(topic, t, round)
}

// run reads topic once for the waiters of one round.
func (r *Replay) run(topic string, t *topicRounds, waiters []*waiter) {
	// The round belongs to no caller: it ends early only when nobody reads any more.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rd := &round{cancel: cancel}
	byTenant := make(map[string][]*waiter, len(waiters))
	for _, w := range waiters {
		w.mu.Lock()
		if !w.out {
			w.round = rd
			rd.live.Add(1)
			byTenant[w.tenant] = append(byTenant[w.tenant], w)
		}
		w.mu.Unlock()
	}
	var err error
	if rd.live.Load() > 0 {
		r.reads.WithLabelValues(topic).Inc()
		err = r.reader.ReadToEnd(ctx, topic, func(rec kafka.Record) error {
			name, _, ok := strings.Cut(string(rec.Key), ":")
			if !ok {
				return nil
			}
			for _, w := range byTenant[name] {
				w.call(rec)
			}
			return nil
		})
	}
	for _, w := range waiters {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
		close(w.done)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.running = false
	r.maybeStart(topic, t, false)
}
