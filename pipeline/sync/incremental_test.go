package sync

import (
	"context"
	"slices"
	gosync "sync"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
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

// Until every month of the look-back was published whole, an incremental sync lists them all:
// after a full sync whose compensations reached Kafka only in part, by the same runner or by a
// restarted one, the next incremental sync publishes the past months it left out, not only the
// current one. From then on it lists the current month again.
func TestRunIncrementalListsEveryMonthUntilPublishedWhole(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "same runner", true: "restarted runner"}[restart], func(t *testing.T) {
			h := newHarness(t, 60)
			rec := &monthRecorder{Source: h.client}
			prod := &halfWritten{Producer: h.kafka, entity: change.Compensations, fails: 1}
			r := h.runner(func(c *Config) { c.Source, c.Producer = rec, prod })
			if _, err := r.Run(t.Context(), Full); err == nil {
				t.Fatal("the full sync succeeded; want its compensations publish to fail")
			}
			full := rec.take()
			if restart {
				r = h.runner(func(c *Config) { c.Source = rec })
			}
			run(t, r, Incremental)
			if got := rec.take(); !slices.Equal(got, full) {
				t.Errorf("the incremental sync after the partial publish listed months %v, want every month %v", got, full)
			}
			// The failed publish stopped the run before its employments: an incremental sync
			// lists those of the persons whose updated_at moved only, the rest waits for the
			// next full sync (or the rolling refresh).
			h.checkTopicsOf(h.expected(), change.Persons, change.Compensations)
			run(t, r, Incremental)
			if got, want := rec.take(), full[len(full)-1:]; !slices.Equal(got, want) {
				t.Errorf("the next incremental sync listed months %v, want the current month %v only", got, want)
			}
		})
	}
}
