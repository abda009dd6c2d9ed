package extract

import (
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
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
