package personiotest

import (
	"net/url"
	"slices"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// TestCreatedAtFiltersMatchWhatIsShown: the created_at filters compare against the created_at
// the API shows (to the second), so that created_at=b finds every person showing b and
// created_at.lt=b, created_at=b and created_at.gt=b split the persons without gap or overlap,
// as a listing split into created_at chains relies on.
func TestCreatedAtFiltersMatchWhatIsShown(t *testing.T) {
	s := NewTestServer(t, fixed(331, 5)) // 331 does not divide the span: creation times fall between seconds
	c := newAPIClient(t, s)
	truth := s.Truth().Persons
	all := personIDs(truth)
	for _, p := range []personio.Person{truth[0], truth[37], truth[150], truth[330]} {
		q := func(name string) []string {
			return personIDs(listAll[personio.Person](c, "/v2/persons?limit=50&"+url.Values{name: {p.CreatedAt}}.Encode()))
		}
		eq, lt, gt := q("created_at"), q("created_at.lt"), q("created_at.gt")
		if !slices.Contains(eq, p.ID) {
			t.Errorf("created_at=%s does not find person %s created then", p.CreatedAt, p.ID)
		}
		union := slices.Concat(lt, eq, gt)
		slices.Sort(union)
		if !slices.Equal(union, all) {
			t.Errorf("at %s: lt %d + eq %d + gt %d persons, want the %d persons exactly once", p.CreatedAt, len(lt), len(eq), len(gt), len(all))
		}
	}
}
