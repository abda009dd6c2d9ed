package webhook

import (
	"context"
	"sync"
	"time"
)

// Target is one person to fetch, with what the deliveries about them asked for.
type Target struct {
	PersonID string
	// Employments is set when an employment event arrived: list the person's employments too.
	Employments bool
	// Deliveries is how many deliveries this target stands for.
	Deliveries int
	// FirstReceived is when the first of them arrived (for the delivery-to-Kafka latency).
	FirstReceived time.Time
	// LastOccurred is the latest occurred_at among them (the catch-up watermark).
	LastOccurred time.Time
}

func (t *Target) merge(o Target) {
	t.Employments = t.Employments || o.Employments
	t.Deliveries += o.Deliveries
	if t.FirstReceived.IsZero() || (!o.FirstReceived.IsZero() && o.FirstReceived.Before(t.FirstReceived)) {
		t.FirstReceived = o.FirstReceived
	}
	if o.LastOccurred.After(t.LastOccurred) {
		t.LastOccurred = o.LastOccurred
	}
}

// Offer outcomes.
const (
	Queued    = "queued"    // a new entry
	Coalesced = "coalesced" // merged into the person's queued or in-flight entry
	Full      = "queue_full"
)

// Queue is a bounded FIFO of persons to fetch in which deliveries for the same person
// coalesce while one is queued or in flight. It is safe for concurrent use.
type Queue struct {
	max int

	mu       sync.Mutex
	pending  map[string]*Target // queued, by person
	order    []string           // queued persons, oldest first
	inFlight map[string]bool    // taken by Next, not yet Done
	again    map[string]*Target // arrived while in flight: queued again at Done
	closed   bool
	ready    chan struct{} // signalled when an entry is queued
	room     chan struct{} // signalled when an entry leaves the queue
	stop     chan struct{} // closed by Close
}

// NewQueue returns a queue holding at most size persons (plus those in flight and their
// follow-ups, at most one each).
func NewQueue(size int) *Queue {
	if size < 1 {
		size = 1
	}
	return &Queue{
		max: size, pending: map[string]*Target{}, inFlight: map[string]bool{},
		again: map[string]*Target{}, ready: make(chan struct{}, 1), room: make(chan struct{}, 1), stop: make(chan struct{}),
	}
}

// Offer adds t (Deliveries 0 counts as 1) and says how: Queued, Coalesced or Full (nothing
// kept).
func (q *Queue) Offer(t Target) string {
	if t.Deliveries == 0 {
		t.Deliveries = 1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if p := q.pending[t.PersonID]; p != nil {
		p.merge(t)
		return Coalesced
	}
	if q.inFlight[t.PersonID] {
		if a := q.again[t.PersonID]; a != nil {
			a.merge(t)
		} else {
			c := t
			q.again[t.PersonID] = &c
		}
		return Coalesced
	}
	if len(q.pending) >= q.max || q.closed {
		return Full
	}
	c := t
	q.pending[t.PersonID] = &c
	q.order = append(q.order, t.PersonID)
	q.signal()
	return Queued
}

// OfferWait is Offer that waits for room instead of answering Full; it fails when ctx ends
// or the queue closes.
func (q *Queue) OfferWait(ctx context.Context, t Target) (string, error) {
	for {
		if got := q.Offer(t); got != Full {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-q.stop:
			return "", ErrClosed
		case <-q.room:
		}
	}
}

func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Next waits for the oldest queued person and marks it in flight until Done. It returns
// ctx.Err() when ctx ends and ErrClosed when the queue is closed and empty.
func (q *Queue) Next(ctx context.Context) (Target, error) {
	for {
		q.mu.Lock()
		if len(q.order) > 0 {
			id := q.order[0]
			q.order[0] = ""
			q.order = q.order[1:]
			t := *q.pending[id]
			delete(q.pending, id)
			q.inFlight[id] = true
			if len(q.order) > 0 {
				q.signal() // another consumer may take the next one
			}
			select {
			case q.room <- struct{}{}:
			default:
			}
			q.mu.Unlock()
			return t, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return Target{}, ErrClosed
		}
		select {
		case <-ctx.Done():
			return Target{}, ctx.Err()
		case <-q.ready:
		case <-q.stop:
		}
	}
}

// Done ends the fetch of personID taken by Next. Deliveries that arrived meanwhile are queued
// again as one entry (even into a full queue: they were accepted already). retry, when not
// nil, is queued again too (a fetch that failed), merged with them.
func (q *Queue) Done(personID string, retry *Target) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, personID)
	next := q.again[personID]
	delete(q.again, personID)
	if retry != nil {
		if next == nil {
			c := *retry
			next = &c
		} else {
			next.merge(*retry)
		}
	}
	if next == nil || q.closed {
		return
	}
	if p := q.pending[personID]; p != nil {
		p.merge(*next)
		return
	}
	q.pending[personID] = next
	q.order = append(q.order, personID)
	q.signal()
}

// Close stops accepting offers; Next drains what is queued, then returns ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.stop)
	}
}

// Len returns how many persons are queued (not counting those in flight).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// InFlight returns how many persons are being fetched.
func (q *Queue) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.inFlight)
}
