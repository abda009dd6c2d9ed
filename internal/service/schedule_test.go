package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// run is one sync a scriptRunner ran: its kind and when it started, since the loop began.
type run struct {
	kind syncrun.Kind
	at   time.Duration
}

func (r run) String() string { return fmt.Sprintf("%s@%v", r.kind[:1], r.at) }

// scriptRunner runs syncs that take a set (simulated) time; full syncs end as fullOutcome says
// for the n-th full sync (counted from 1), incremental syncs complete.
type scriptRunner struct {
	start       time.Time
	full, incr  time.Duration // how long each kind takes
	fullOutcome func(n int) syncrun.Outcome

	mu    sync.Mutex
	runs  []run
	fulls int
}

func (f *scriptRunner) Run(ctx context.Context, kind syncrun.Kind, _ ...syncrun.RunOption) (syncrun.Result, error) {
	f.mu.Lock()
	f.runs = append(f.runs, run{kind, time.Since(f.start)})
	out, took := syncrun.Complete, f.incr
	if kind == syncrun.Full {
		f.fulls++
		out, took = f.fullOutcome(f.fulls), f.full
	}
	f.mu.Unlock()
	time.Sleep(took)
	res := syncrun.Result{Kind: kind, Outcome: out}
	switch out {
	case syncrun.Partial: // one item Personio keeps serving that cannot be normalised
		res.ErrorDetails = []syncrun.ErrorInfo{{Code: syncrun.CodeRecordInvalid, Entity: "persons", Field: "id"}}
	case syncrun.Failed:
		return res, &syncrun.RunError{Details: []syncrun.ErrorInfo{{Code: syncrun.CodeListingBroken}}}
	}
	return res, nil
}

func (f *scriptRunner) taken() []run {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]run(nil), f.runs...)
}

func fulls(runs []run) []time.Duration {
	var out []time.Duration
	for _, r := range runs {
		if r.kind == syncrun.Full {
			out = append(out, r.at)
		}
	}
	return out
}

// TestScheduleBacksOffFailingFullSyncs: a full sync that never completes (one bad item makes
// every one partial; each takes 30 minutes of Personio's budget) is retried after 5, 10, 20,
// 40, 80 minutes (from its end), while the incremental syncs keep running every 5 minutes in
// between. Before, it was retried every 5 minutes, won every tie with the incremental sync,
// and no incremental sync ever ran.
func TestScheduleBacksOffFailingFullSyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := time.Minute
		r := &scriptRunner{start: time.Now(), full: 30 * m,
			fullOutcome: func(int) syncrun.Outcome { return syncrun.Partial }}
		reg := prometheus.NewRegistry()
		s := NewScheduler(r, Schedule{Full: 6 * time.Hour, Incremental: 5 * m, Retry: 5 * m}, nil, WithRegisterer(reg))
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- s.Loop(stop, context.Background()) }()
		time.Sleep(4 * time.Hour)
		synctest.Wait()

		runs := r.taken()
		// Full syncs start at 0; they end 30 minutes later and wait 5, 10, 20, 40, 80 minutes.
		want := []time.Duration{0, 35 * m, 75 * m, 125 * m, 195 * m}
		if got := fulls(runs); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("full syncs at %v, want %v (runs %v)", got, want, runs)
		}
		// Between two full syncs the incremental syncs run every 5 minutes, from 5 minutes
		// after the last sync: at 70, at 110–120, at 160–190, at 230–240.
		incr := 0
		for i, rn := range runs {
			if rn.kind != syncrun.Incremental {
				continue
			}
			incr++
			if prev := runs[i-1]; prev.kind == syncrun.Incremental && rn.at-prev.at != 5*m {
				t.Errorf("incremental syncs at %v and %v, want 5 minutes apart", prev.at, rn.at)
			}
		}
		if incr != 1+3+7+3 {
			t.Errorf("%d incremental syncs, want %d (runs %v)", incr, 1+3+7+3, runs)
		}

		// /status and the metrics say why the full sync is retried and when.
		st := s.Status()
		fr := st.FullSyncRetry
		if fr == nil || fr.ConsecutiveFailures != 5 || fr.Reason != syncrun.CodeRecordInvalid || fr.Outcome != "partial" ||
			fr.BackoffSeconds != (80*m).Seconds() || !fr.NextAttempt.Equal(r.start.Add(305*m)) || !st.NextFull.Equal(fr.NextAttempt) {
			t.Errorf("schedule status %+v, retry %+v; want 5 failures, reason %s, 80 min backoff, next at +305 min", st, fr, syncrun.CodeRecordInvalid)
		}
		if b, _ := json.Marshal(st); !strings.Contains(string(b), `"full_sync_retry":{"consecutive_failures":5,"reason":"record.invalid"`) {
			t.Errorf("status JSON %s", b)
		}
		if got := testutil.ToFloat64(s.metrics.failures); got != 5 {
			t.Errorf("personio_cdc_full_sync_consecutive_failures = %v, want 5", got)
		}
		if got := testutil.ToFloat64(s.metrics.backoff); got != (80 * m).Seconds() {
			t.Errorf("personio_cdc_full_sync_retry_backoff_seconds = %v, want %v", got, (80 * m).Seconds())
		}
		if got := testutil.ToFloat64(s.metrics.reason.WithLabelValues(syncrun.CodeRecordInvalid)); got != 1 {
			t.Errorf("personio_cdc_full_sync_retry_reason{code=record.invalid} = %v, want 1", got)
		}
		if n, err := testutil.GatherAndCount(reg, "personio_cdc_full_sync_retry_reason"); err != nil || n != 1 {
			t.Errorf("%d reason series (%v), want 1", n, err)
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("Loop: %v", err)
		}
	})
}

// TestScheduleBackoffCapAndReset: the backoff doubles up to the full interval and a complete
// full sync resets it.
func TestScheduleBackoffCapAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := time.Minute
		outcomes := map[int]syncrun.Outcome{5: syncrun.Complete, 7: syncrun.Complete}
		r := &scriptRunner{start: time.Now(), fullOutcome: func(n int) syncrun.Outcome {
			if o, ok := outcomes[n]; ok {
				return o
			}
			return syncrun.Failed
		}}
		s := NewScheduler(r, Schedule{Full: time.Hour, Retry: 10 * m}, nil)
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- s.Loop(stop, context.Background()) }()
		time.Sleep(215 * m)
		synctest.Wait()
		// Failed at 0, 10, 30, 70 (waits 10, 20, 40, then 80 capped at 60); complete at 130;
		// failed at 190 (the backoff starts again at 10); complete at 200.
		want := []time.Duration{0, 10 * m, 30 * m, 70 * m, 130 * m, 190 * m, 200 * m}
		if got := fulls(r.taken()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("full syncs at %v, want %v", got, want)
		}
		if st := s.Status(); st.FullSyncRetry != nil || !st.NextFull.Equal(r.start.Add(260*m)) {
			t.Errorf("after a complete full sync: %+v, want no retry and the next full sync at +260 min", st)
		}
		if got := testutil.ToFloat64(s.metrics.failures); got != 0 {
			t.Errorf("personio_cdc_full_sync_consecutive_failures = %v after a complete full sync, want 0", got)
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("Loop: %v", err)
		}
	})
}
