package group

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lease is this member's own view of whether it may still be in the group: the coordinator
// drops a member it has not heard from for the session timeout and gives its partitions to
// others, without being able to tell the member (it is unreachable). So the member keeps a
// lease that it renews with every answered group request (Heartbeat, JoinGroup, SyncGroup) and
// lets it run out earlier than the coordinator's timer (see OnBrokerE2E for when that timer
// restarts): when the lease is gone, the coordinator may be about to hand the partitions on,
// and the member must already have released its tenants.
//
// A JoinGroup or SyncGroup in flight keeps the lease: the coordinator holds a join until every
// member rejoined (up to the rebalance timeout) and does not expire a member whose join it
// holds. It keeps it for one rebalance timeout at most.
//
// lease is a kgo hook (kgo.WithHooks): it sees every request's write and its round trip.
type lease struct {
	ttl     time.Duration // renewal to expiry
	joinTTL time.Duration // the longest a join/sync in flight keeps the lease

	mu      sync.Mutex
	renewed time.Time // when the last answered group request was sent
	joining time.Time // when the join or sync in flight was written; zero when none
}

func newLease(ttl, joinTTL time.Duration) *lease {
	return &lease{ttl: ttl, joinTTL: joinTTL}
}

var (
	_ kgo.HookBrokerWrite = (*lease)(nil)
	_ kgo.HookBrokerE2E   = (*lease)(nil)
)

func isJoin(key int16) bool {
	return key == kmsg.JoinGroup.Int16() || key == kmsg.SyncGroup.Int16()
}

// OnBrokerWrite notes a join or sync that is now on its way to the coordinator.
func (l *lease) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, timeToWrite time.Duration, err error) {
	if err != nil || !isJoin(key) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.joining.IsZero() {
		l.joining = time.Now().Add(-timeToWrite)
	}
}

// OnBrokerE2E renews the lease with an answered Heartbeat, JoinGroup or SyncGroup. The
// coordinator restarts a member's session timer when a heartbeat arrives, so a heartbeat renews
// from the time it was sent; it restarts every member's timer when it completes a join or a sync
// and answers at once, so those renew from the time the answer came (a join may have waited at
// the coordinator for longer than the lease).
func (l *lease) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != kmsg.Heartbeat.Int16() && !isJoin(key) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if isJoin(key) && e.WriteErr == nil {
		l.joining = time.Time{}
	}
	if e.WriteErr != nil || e.ReadErr != nil {
		return
	}
	if isJoin(key) {
		l.renewLocked(now)
		return
	}
	l.renewLocked(now.Add(-e.DurationE2E()))
}

// renew records an answered request sent at sent.
func (l *lease) renew(sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.renewLocked(sent)
}

func (l *lease) renewLocked(sent time.Time) {
	if l.renewed.IsZero() || elapsed(sent, l.renewed) > 0 {
		l.renewed = sent
	}
}

// expired reports whether the lease ran out at now. A member that never heard from the
// coordinator holds nothing, so its lease cannot run out.
func (l *lease) expired(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.renewed.IsZero() {
		return false
	}
	if !l.joining.IsZero() && elapsed(now, l.joining) < l.joinTTL {
		return false
	}
	return elapsed(now, l.renewed) >= l.ttl
}

// elapsed is the time from then to now by both the monotonic clock and the wall clock,
// whichever is longer: the monotonic clock of Linux stands still while the machine is
// suspended (a paused virtual machine), the wall clock does not; the coordinator's timer runs on
// another machine and knows nothing of our pause.
func elapsed(now, then time.Time) time.Duration {
	return max(now.Sub(then), now.Round(0).Sub(then.Round(0)))
}
