package sync

import (
	"context"
	"slices"
	gosync "sync"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// monthRecorder records the month of every compensation listing request.
type monthRecorder struct {
	extract.Source
	mu     gosync.Mutex
	months []string
}

func (m *monthRecorder) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	m.mu.Lock()
	if month := f.Window.Start.Format("2006-01"); !slices.Contains(m.months, month) {
		m.months = append(m.months, month)
	}
	m.mu.Unlock()
	return m.Source.ListCompensations(ctx, f, fn)
}

func (m *monthRecorder) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	got := m.months
	m.months = nil
	slices.Sort(got)
	return got
}

// An incremental sync lists the compensations of the current month only: Personio has no
// updated_at filter for them, and listing the whole look-back every few minutes cost most of
// the compensation budget (288 of an incremental sync's 289 requests at 10,000 persons). The
// full sync lists the look-back.
func TestRunIncrementalListsCurrentMonthOnly(t *testing.T) {
	h := newHarness(t, 10)
	rec := &monthRecorder{Source: h.client}
	r := h.runner(func(c *Config) { c.Source = rec })
	if res, err := r.Run(t.Context(), Full); err != nil || res.Outcome != Complete {
		t.Fatalf("full sync: %v, %v", res.Outcome, err)
	}
	full := rec.take()
	if want := DefaultLookbackMonths + 1; len(full) != want {
		t.Fatalf("the full sync listed months %v, want %d", full, want)
	}
	if res, err := r.Run(t.Context(), Incremental); err != nil || res.Outcome != Complete {
		t.Fatalf("incremental sync: %v, %v", res.Outcome, err)
	}
	if got, want := rec.take(), full[len(full)-1:]; !slices.Equal(got, want) {
		t.Errorf("the incremental sync listed months %v, want the current month %v only", got, want)
	}
}
