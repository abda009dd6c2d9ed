package kafka

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestNoGoroutineLeak runs every operation, including the early exits, and
// checks that closing the client leaves no goroutine of this package or of
// kafka-go behind.
func TestNoGoroutineLeak(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	c, err := New(Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.Publish(ctx, keyedMessages("t", 100)); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := c.ReadToEnd(ctx, "t", func(Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatal(err)
	}
	tctx, cancel := context.WithCancel(ctx)
	_ = c.Tail(tctx, "t", true, func(Record) error { cancel(); return nil })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	var stacks string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "segmentio/kafka-go") && !strings.Contains(stacks, "internal/kafka.(*Client)") {
			return
		}
	}
	t.Fatalf("goroutines left after Close:\n%s", stacks)
}
