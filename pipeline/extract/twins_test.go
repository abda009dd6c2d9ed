package extract

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Two identical items without id in one listing are two payments (two equal bonuses of one
// type on one day): the union keeps both. Listed again by another sub-window, each is kept
// once: the union keeps as many copies as the listing that has the most.
func TestUnionCompensationsKeepsIdenticalItemsWithoutID(t *testing.T) {
	b := personio.Compensation{Person: personio.Ref{ID: "7"}, Type: personio.CompensationType{ID: "bonus"},
		Amount: personio.Money{Value: "500", Currency: "EUR"}, EffectiveFrom: "2026-12-01", Interval: "ONE_TIME"}
	withID := b
	withID.ID = "c1"
	for name, tt := range map[string]struct {
		lists [][]personio.Compensation
		want  int
	}{
		"two in one listing":                {[][]personio.Compensation{{b, b}}, 2},
		"two, listed again by another":      {[][]personio.Compensation{{b, b}, {b, b}}, 2},
		"one, then two":                     {[][]personio.Compensation{{b}, {b, b}}, 2},
		"two, then one":                     {[][]personio.Compensation{{b, b}, {b}}, 2},
		"one in each of two listings":       {[][]personio.Compensation{{b}, {b}}, 1},
		"an item with id listed twice":      {[][]personio.Compensation{{withID, withID}}, 1},
		"an item with id in two listings":   {[][]personio.Compensation{{withID}, {withID}}, 1},
		"three in one listing, two in next": {[][]personio.Compensation{{b, b, b}, {b, b}}, 3},
	} {
		if got := unionCompensations(tt.lists); len(got) != tt.want {
			t.Errorf("%s: union has %d items, want %d", name, len(got), tt.want)
		}
	}
}

// activeInWindowSource lists the same two identical bonuses without id for every window, as a
// Personio that filters by "active in the window" would, and stops every request of more than
// 15 days as too large, so the month is listed as halves.
type activeInWindowSource struct {
	Source
	bonus personio.Compensation
}

func (s activeInWindowSource) ListCompensations(_ context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	if days(f.Window) > 15 {
		return fmt.Errorf("stopped: %w", personio.ErrTooMuchData)
	}
	return fn([]personio.Compensation{s.bonus, s.bonus})
}

// Two identical bonuses without id that each half of a split month lists again are still two:
// the halves are separate listings for the union, not one.
func TestExtractSplitMonthKeepsIdenticalItemsOnce(t *testing.T) {
	b := personio.Compensation{Person: personio.Ref{ID: "7"}, Type: personio.CompensationType{ID: "bonus"},
		Amount: personio.Money{Value: "500", Currency: "EUR"}, EffectiveFrom: "2026-11-01", Interval: "ONE_TIME"}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	e, err := New(activeInWindowSource{Source: company(), bonus: b}, WithClock(func() time.Time { return now }), WithLookbackMonths(0))
	if err != nil {
		t.Fatal(err)
	}
	s := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Compensations}}))["compensations:2026-11"]
	if !s.Complete || len(listedCompensations(s)) != 2 {
		t.Fatalf("complete %v, %d items (%v); want the 2 bonuses", s.Complete, len(listedCompensations(s)), s.Err)
	}
}
