package group

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// holders is the shared view of the fake Owners in TestRunWithKfake: which member runs which
// tenant; a tenant taken while another member runs it is a violation.
type holders struct {
	mu         sync.Mutex
	by         map[string]string
	violations []string
}

type holderOwner struct {
	name string
	h    *holders
}

func (o holderOwner) Own(_ context.Context, tenants []string) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	for _, t := range tenants {
		if m, ok := o.h.by[t]; ok {
			o.h.violations = append(o.h.violations, fmt.Sprintf("%s took %s from %s", o.name, t, m))
		}
		o.h.by[t] = o.name
	}
	return nil
}

func (o holderOwner) Release(tenants []string) {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	for _, t := range tenants {
		if o.h.by[t] == o.name {
			delete(o.h.by, t)
		}
	}
}

// Run against kfake: two members share the tenants disjointly and fully, the one that stops
// hands its tenants to the other, the work topic is created with the configured partitions,
// and when both stopped no tenant is owned and no goroutine of the group or of kgo is left.
func TestRunWithKfake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	admin, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	h := &holders{by: map[string]string{}}
	var tenants []string
	for i := range 20 {
		tenants = append(tenants, fmt.Sprintf("company-%d", i))
	}
	start := func(name string) (*Group, context.CancelFunc, chan error) {
		g, err := New(Options{
			Kafka:   kafka.Config{Brokers: cluster.ListenAddrs()},
			GroupID: "cdc", Topic: "personio.work", Partitions: 6,
			SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
			Tenants: tenants, Owner: holderOwner{name: name, h: h}, Admin: admin,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		return g, cancel, done
	}
	spread := func(want ...string) {
		t.Helper()
		var last map[string]int
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			h.mu.Lock()
			per := map[string]int{}
			for _, m := range h.by {
				per[m]++
			}
			n := len(h.by)
			h.mu.Unlock()
			ok := n == len(tenants) && len(per) == len(want)
			for _, m := range want {
				ok = ok && per[m] > 0
			}
			if ok {
				return
			}
			last = per
		}
		t.Fatalf("tenants not spread over %v within 30s: %v", want, last)
	}
	stop := func(name string, cancel context.CancelFunc, done chan error) {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: Run = %v, want context.Canceled", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: Run did not return", name)
		}
	}

	a, cancelA, doneA := start("a")
	b, cancelB, doneB := start("b")
	spread("a", "b")
	if n, err := admin.Partitions(t.Context(), "personio.work"); err != nil || n != 6 {
		t.Errorf("work topic: %d partitions (%v), want 6", n, err)
	}
	if sa, sb := a.Status(), b.Status(); sa.AssignedPartitions+sb.AssignedPartitions != 6 ||
		len(sa.OwnedTenants)+len(sb.OwnedTenants) != len(tenants) {
		t.Errorf("status a %+v, b %+v", sa, sb)
	}
	stop("b", cancelB, doneB)
	spread("a")
	stop("a", cancelA, doneA)
	h.mu.Lock()
	if len(h.by) != 0 || len(h.violations) != 0 {
		t.Errorf("after both stopped: owned %v, violations %v", h.by, h.violations)
	}
	h.mu.Unlock()
	if st := a.Status(); st.MemberID != "" || len(st.OwnedTenants) != 0 {
		t.Errorf("status after Run returned: %+v", st)
	}

	var stacks string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "franz-go/pkg/kgo.") && !strings.Contains(stacks, "internal/group.(*Group)") {
			return
		}
	}
	t.Fatalf("goroutines left after Run returned:\n%s", stacks)
}
