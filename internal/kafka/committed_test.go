package kafka

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnWrite writes values under key in one transaction of the producer with the transactional id
// id and commits it (commit true) or aborts it.
func txnWrite(t *testing.T, cluster *kfake.Cluster, id, topic string, commit bool, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.TransactionalID(id),
		kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	openTxn(t, cl, values...)
	if err := cl.EndTransaction(t.Context(), kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// openTxn begins a transaction on cl and writes values in it (key k-<value>), leaving it open.
func openTxn(t *testing.T, cl *kgo.Client, values ...string) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Key: []byte("k-" + v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readValues returns the values ReadToEnd delivers, in partition and offset order.
func readValues(t *testing.T, c *Client, topic string) []string {
	t.Helper()
	var got []string
	if err := c.ReadToEnd(t.Context(), topic, func(r Record) error {
		got = append(got, string(r.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// A transaction that was aborted (a zombie's writes, fenced by the producer that took its
// transactional id over) is not part of a topic: ReadToEnd, and with it the state rebuild,
// replay and tail, skips its records and the transaction markers, and reads the committed
// records after them.
func TestReadToEndSkipsAbortedTransactions(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "t"))
	c, _, _ := newClient(t, cluster)
	txnWrite(t, cluster, "g.acme", "t", true, "c1", "c2")
	txnWrite(t, cluster, "g.acme", "t", false, "zombie1", "zombie2", "zombie3")
	if err := c.Publish(t.Context(), []Message{{Topic: "t", Key: []byte("plain"), Value: []byte("p1")}}); err != nil {
		t.Fatal(err)
	}
	txnWrite(t, cluster, "g.acme", "t", true, "c3")
	want := []string{"c1", "c2", "c3", "p1"}
	if got := readValues(t, c, "t"); !slices.Equal(got, want) {
		t.Fatalf("ReadToEnd read %q, want the committed records %q alone", got, want)
	}
}

// A transaction open when a read starts holds the last stable offset below records other
// producers committed after it began. The read waits for it to end, so that it misses
// none of those committed records, and then reads it if it committed and skips it if it
// aborted.
func TestReadToEndWaitsForAnOpenTransaction(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "commit", false: "abort"}[commit], func(t *testing.T) {
			cluster := newCluster(t, kfake.SeedTopics(1, "t"))
			c, _, _ := newClient(t, cluster)
			txnWrite(t, cluster, "g.acme", "t", true, "c1")
			open, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.TransactionalID("g.other"),
				kgo.DefaultProduceTopic("t"))
			if err != nil {
				t.Fatal(err)
			}
			defer open.Close()
			openTxn(t, open, "open1", "open2")
			txnWrite(t, cluster, "g.globex", "t", true, "c2") // committed behind the open transaction
			ctx, cancel := context.WithTimeout(t.Context(), readTestTimeout)
			defer cancel()
			type result struct {
				got []string
				err error
			}
			done := make(chan result, 1)
			go func() {
				var r result
				r.err = c.ReadToEnd(ctx, "t", func(rec Record) error {
					r.got = append(r.got, string(rec.Value))
					return nil
				})
				done <- r
			}()
			time.Sleep(300 * time.Millisecond) // the read takes its end offsets meanwhile
			end := kgo.TryAbort
			want := []string{"c1", "c2"}
			if commit {
				end, want = kgo.TryCommit, []string{"c1", "open1", "open2", "c2"}
			}
			if err := open.EndTransaction(t.Context(), end); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil {
				t.Fatalf("ReadToEnd with a transaction open at its start: %v", r.err)
			}
			if !slices.Equal(r.got, want) {
				t.Fatalf("ReadToEnd read %q, want %q: every record committed before the read began, and the open transaction as it ended", r.got, want)
			}
		})
	}
}

// Tail delivers committed records only, aborted ones never.
func TestTailSkipsAbortedTransactions(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(1, "t"))
	c, _, _ := newClient(t, cluster)
	txnWrite(t, cluster, "g.acme", "t", false, "zombie")
	txnWrite(t, cluster, "g.acme", "t", true, "last")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []string
	_ = c.Tail(ctx, "t", true, func(r Record) error {
		got = append(got, string(r.Value))
		if string(r.Value) == "last" {
			cancel()
		}
		return nil
	})
	if !slices.Equal(got, []string{"last"}) {
		t.Fatalf("Tail delivered %q, want [last]", got)
	}
}

// Many aborted and committed transactions interleaved over several partitions and fetches.
func TestReadToEndManyTransactions(t *testing.T) {
	cluster := newCluster(t, kfake.SeedTopics(3, "t"))
	c, _, _ := newClient(t, cluster)
	var want []string
	for i := range 30 {
		commit := i%3 != 1
		var vals []string
		for j := range 5 {
			vals = append(vals, fmt.Sprintf("v%02d-%d", i, j))
		}
		txnWrite(t, cluster, fmt.Sprintf("g.t%d", i%2), "t", commit, vals...)
		if commit {
			want = append(want, vals...)
		}
	}
	slices.Sort(want)
	if got := readValues(t, c, "t"); !slices.Equal(got, want) {
		t.Fatalf("ReadToEnd read %d records, want the %d committed ones:\n got %q\nwant %q", len(got), len(want), got, want)
	}
}
