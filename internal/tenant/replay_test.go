package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// countingReader is a topic reader over fixed records that counts the whole reads of each topic.
type countingReader struct {
	records map[string][]kafka.Record
	mu      gosync.Mutex
	reads   map[string]int
	block   chan struct{} // when set, every read waits for it to close first
}

func (c *countingReader) ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error {
	c.mu.Lock()
	if c.reads == nil {
		c.reads = map[string]int{}
	}
	c.reads[topic]++
	c.mu.Unlock()
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, rec := range c.records[topic] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

func (c *countingReader) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[topic]
}

// topicsOf returns records for every tenant on every topic: "<tenant>:<i>" for i < n, and a key
// of nobody's.
func topicsOf(topics, tenants []string, n int) map[string][]kafka.Record {
	out := map[string][]kafka.Record{}
	for _, topic := range topics {
		for i := range n {
			for _, t := range tenants {
				out[topic] = append(out[topic], kafka.Record{Key: fmt.Appendf(nil, "%s:%d", t, i), Value: []byte(topic)})
			}
		}
		out[topic] = append(out[topic], kafka.Record{Key: []byte("no-tenant-key")})
	}
	return out
}

// readAll reads every topic through tenant's view, the topics in parallel as the runner's
// rebuild does, and returns the keys seen per topic.
func readAll(ctx context.Context, r *Replay, tenant string, topics []string) (map[string][]string, error) {
	var mu gosync.Mutex
	seen := map[string][]string{}
	var wg gosync.WaitGroup
	errs := make([]error, len(topics))
	for i, topic := range topics {
		wg.Go(func() {
			errs[i] = r.Reader(tenant).ReadToEnd(ctx, topic, func(rec kafka.Record) error {
				mu.Lock()
				seen[topic] = append(seen[topic], string(rec.Key))
				mu.Unlock()
				return nil
			})
		})
	}
	wg.Wait()
	return seen, errors.Join(errs...)
}

// TestReplayStartsManyTenantsWithOneRead is the rebuild-once measure: ten tenants started
// together cost one read of each topic, not ten, and each tenant sees its own keys only; a
// tenant started later reads the topics once for itself.
func TestReplayStartsManyTenantsWithOneRead(t *testing.T) {
	topics := []string{"p.persons", "p.compensations", "p.employments"}
	var tenants []string
	for i := range 10 {
		tenants = append(tenants, fmt.Sprintf("t%d", i))
	}
	src := &countingReader{records: topicsOf(topics, append(slices.Clone(tenants), "late"), 5)}
	r := NewReplay(src, time.Hour, nil) // the gather deadline never decides here
	for _, name := range tenants {
		r.Expect(name, topics)
	}
	ctx := t.Context()
	var wg gosync.WaitGroup
	got := make([]map[string][]string, len(tenants))
	errs := make([]error, len(tenants))
	for i, name := range tenants {
		wg.Go(func() { got[i], errs[i] = readAll(ctx, r, name, topics) })
	}
	wg.Wait()
	for i, name := range tenants {
		if errs[i] != nil {
			t.Fatalf("%s: %v", name, errs[i])
		}
		for _, topic := range topics {
			keys := got[i][topic]
			if len(keys) != 5 {
				t.Errorf("%s read %d keys of %s, want its 5: %v", name, len(keys), topic, keys)
			}
			for _, k := range keys {
				if k[:len(name)+1] != name+":" {
					t.Errorf("%s was handed another tenant's key %q", name, k)
				}
			}
		}
	}
	for _, topic := range topics {
		if n := src.count(topic); n != 1 {
			t.Errorf("%d tenants starting together read %s %d times, want 1", len(tenants), topic, n)
		}
	}

	// A tenant started later reads once for itself; the others read nothing again.
	r.Expect("late", topics)
	seen, err := readAll(ctx, r, "late", topics)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		if n := src.count(topic); n != 2 || len(seen[topic]) != 5 {
			t.Errorf("after a later tenant: %s read %d times (want 2), the tenant saw %d keys (want 5)", topic, n, len(seen[topic]))
		}
	}
}

// TestReplayForgetReleasesTheRound: a tenant expected but stopped before it read (Forget) does
// not hold the others back until the gather deadline.
func TestReplayForgetReleasesTheRound(t *testing.T) {
	topics := []string{"p.persons"}
	src := &countingReader{records: topicsOf(topics, []string{"a", "b"}, 3)}
	r := NewReplay(src, time.Hour, nil)
	r.Expect("a", topics)
	r.Expect("b", topics)
	done := make(chan error, 1)
	go func() { _, err := readAll(t.Context(), r, "a", topics); done <- err }()
	r.Forget("b")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := src.count("p.persons"); n != 1 {
		t.Fatalf("reads = %d, want 1", n)
	}
}

// TestReplayIsolatesTenants: one tenant's reader failing, or giving up, leaves the others
// reading every record of theirs; its error is returned as is.
func TestReplayIsolatesTenants(t *testing.T) {
	topics := []string{"p.persons"}
	src := &countingReader{records: topicsOf(topics, []string{"a", "b", "c"}, 4), block: make(chan struct{})}
	r := NewReplay(src, time.Hour, nil)
	for _, n := range []string{"a", "b", "c"} {
		r.Expect(n, topics)
	}
	boom := errors.New("cannot decode")
	var wg gosync.WaitGroup
	var errA, errB, errC error
	var keysC int
	ctxB, cancelB := context.WithCancel(t.Context())
	wg.Go(func() {
		errA = r.Reader("a").ReadToEnd(t.Context(), "p.persons", func(kafka.Record) error { return boom })
	})
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		errB = r.Reader("b").ReadToEnd(ctxB, "p.persons", func(kafka.Record) error { return nil })
	}()
	wg.Go(func() {
		errC = r.Reader("c").ReadToEnd(t.Context(), "p.persons", func(kafka.Record) error { keysC++; return nil })
	})
	for src.count("p.persons") == 0 {
		time.Sleep(time.Millisecond) // the round starts once all three wait
	}
	cancelB()
	<-bDone // b gave up while the round was under way
	close(src.block)
	wg.Wait()
	if !errors.Is(errA, boom) {
		t.Errorf("a's read = %v, want its own decoder's error", errA)
	}
	if !errors.Is(errB, context.Canceled) {
		t.Errorf("b's read = %v, want context.Canceled", errB)
	}
	if errC != nil || keysC != 4 {
		t.Errorf("c's read = %v with %d keys; want every one of its 4", errC, keysC)
	}
}

// TestReplayGatherDeadline: a tenant expected but never reading holds the round back only until
// the gather deadline.
func TestReplayGatherDeadline(t *testing.T) {
	topics := []string{"p.persons"}
	src := &countingReader{records: topicsOf(topics, []string{"a", "b"}, 2)}
	r := NewReplay(src, 10*time.Millisecond, nil)
	r.Expect("a", topics)
	r.Expect("b", topics)
	seen, err := readAll(t.Context(), r, "a", topics)
	if err != nil || len(seen["p.persons"]) != 2 {
		t.Fatalf("read = %v, %v; want a's 2 keys after the deadline", seen, err)
	}
}
