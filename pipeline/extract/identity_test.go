package extract

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// TestExtractKeepsItemsWithoutIdentity: the persons snapshot keeps a person served without
// id (absent or null) and both of two different persons served with one id, so that the
// sync can report them and withhold deletes; only a repeat identical to an item already
// listed is dropped. Before, the extractor dropped all three without a word.
func TestExtractKeepsItemsWithoutIdentity(t *testing.T) {
	src := company()
	var nullID, absentID personio.Person
	for raw, p := range map[string]*personio.Person{
		`{"id": null, "first_name": "A", "created_at": "2026-11-02T10:00:00Z"}`: &nullID,
		`{"first_name": "B", "created_at": "2026-11-04T10:00:00Z"}`:             &absentID,
	} {
		if err := json.Unmarshal([]byte(raw), p); err != nil {
			t.Fatal(err)
		}
	}
	other := src.persons[3] // person 4, served a second time with other content
	other.LastName = "Other"
	src.persons = append(src.persons, nullID, absentID, other, src.persons[1])

	for _, chains := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d chains", chains), func(t *testing.T) {
			src.mu.Lock()
			src.employmentCalls = 0
			src.mu.Unlock()
			e, err := New(src, WithClock(func() time.Time { return now }), WithPersonChains(chains))
			if err != nil {
				t.Fatal(err)
			}
			got := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Persons, change.Employments}}))
			p := got["persons"]
			if g := fmt.Sprint(personIDs(p)); g != "[  1 2 3 4 4 5]" {
				t.Errorf("persons = %q; want both without id, both 4s, the repeated 2 and 3 once", g)
			}
			for _, q := range listedPersons(p) {
				if q.ID == "" && q.EmploymentList != nil {
					t.Errorf("a person without id got employments %v", q.EmploymentList)
				}
			}
			if src.employmentCalls != 5 {
				t.Errorf("%d employment listings; want 5 (one per id listed)", src.employmentCalls)
			}
			if m := got["employments"]; m.Rest {
				t.Error("persons without id were listed, yet the employments of every person not listed count as gone")
			}
		})
	}
}
