package change_test

import (
	"slices"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

func bonus(id, amount string) personio.Compensation {
	return personio.Compensation{ID: id, Person: personio.Ref{ID: "7"}, Type: personio.CompensationType{ID: "b", Category: "BONUS"},
		Amount: personio.Money{Value: personio.Decimal(amount), Currency: "EUR"}, EffectiveFrom: "2026-12-01", Interval: "ONE_TIME"}
}

// identities normalizes and numbers cs and returns id → amount.
func identities(t *testing.T, cs ...personio.Compensation) map[string]string {
	t.Helper()
	recs := make([]*change.Compensation, 0, len(cs))
	for _, c := range cs {
		rec, err := change.NewCompensation(c)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	change.NumberCompensations(recs)
	out := map[string]string{}
	for _, r := range recs {
		if _, dup := out[r.ID]; dup {
			t.Fatalf("identity %s twice", r.ID)
		}
		out[r.ID] = r.Amount.FloatString(2)
	}
	return out
}

const twinKey = "7|b|2026-12-01|ONE_TIME"

// Compensations without Personio id that share the composite key are numbered by content:
// the smallest amount keeps the plain key, the next gets "|2", and so on; the numbering does
// not depend on listing order, items with an id keep it, a lone item keeps the plain key.
func TestNumberCompensations(t *testing.T) {
	a, b, c := bonus("", "500"), bonus("", "2000.5"), bonus("", "120")
	want := map[string]string{twinKey: "120.00", twinKey + "|2": "500.00", twinKey + "|3": "2000.50"}
	for _, order := range [][]personio.Compensation{{a, b, c}, {c, b, a}, {b, a, c}} {
		if got := identities(t, order...); !mapsEqual(got, want) {
			t.Fatalf("identities %v, want %v", got, want)
		}
	}
	if got := identities(t, a, a); !mapsEqual(got, map[string]string{twinKey: "500.00", twinKey + "|2": "500.00"}) {
		t.Errorf("two identical items: %v", got)
	}
	if got := identities(t, a); !mapsEqual(got, map[string]string{twinKey: "500.00"}) {
		t.Errorf("one item: %v", got)
	}
	if got := identities(t, bonus("c1", "500"), bonus("c2", "500"), a); !mapsEqual(got, map[string]string{"c1": "500.00", "c2": "500.00", twinKey: "500.00"}) {
		t.Errorf("items with ids: %v", got)
	}
	// Same amount, different content (a currency): ordered by content hash, stable either way.
	chf := bonus("", "500")
	chf.Amount.Currency = "CHF"
	x, y := identities(t, a, chf), identities(t, chf, a)
	if !mapsEqual(x, y) || len(x) != 2 {
		t.Errorf("same amount, other currency: %v vs %v", x, y)
	}
}

// What a consumer sees when one of two such bonuses changes: the keys whose content differs.
// Raising the smaller below the larger, or the larger, changes one key (an update); a change
// that swaps their order updates both keys. Never a delete and a create.
func TestNumberCompensationsChangeOfOne(t *testing.T) {
	before := identities(t, bonus("", "500"), bonus("", "2000"))
	for _, tt := range []struct {
		name    string
		after   map[string]string
		updated []string
	}{
		{"smaller raised, order kept", identities(t, bonus("", "600"), bonus("", "2000")), []string{twinKey}},
		{"larger raised", identities(t, bonus("", "500"), bonus("", "2100")), []string{twinKey + "|2"}},
		{"smaller raised past the larger", identities(t, bonus("", "2500"), bonus("", "2000")), []string{twinKey, twinKey + "|2"}},
	} {
		var updated []string
		for k, v := range tt.after {
			old, ok := before[k]
			if !ok {
				t.Fatalf("%s: key %s created", tt.name, k)
			}
			if old != v {
				updated = append(updated, k)
			}
		}
		if len(tt.after) != len(before) {
			t.Fatalf("%s: keys %v, before %v", tt.name, tt.after, before)
		}
		slices.Sort(updated)
		if !slices.Equal(updated, tt.updated) {
			t.Errorf("%s: updated %v, want %v", tt.name, updated, tt.updated)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
