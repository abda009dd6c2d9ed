package personiotest

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

func byID(tr Truth) map[string]personio.Person {
	m := make(map[string]personio.Person, len(tr.Persons))
	for _, p := range tr.Persons {
		m[p.ID] = p
	}
	return m
}

func compsOf(tr Truth, pid string) []personio.Compensation {
	var out []personio.Compensation
	for _, c := range tr.Compensations {
		if c.Person.ID == pid {
			out = append(out, c)
		}
	}
	return out
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestChurnSemantics(t *testing.T) {
	clk := newClock(testNow)
	opts := fixed(120, 4)
	opts.Now = clk.Now
	s := NewTestServer(t, opts)
	c := newAPIClient(t, s)
	before := s.Truth()
	bp := byID(before)
	clk.Advance(time.Hour)
	now := clk.Now()

	res := s.Churn(Churn{Hires: 3, Terminations: 3, Deletions: 3, Renames: 3, EmailChanges: 3,
		AttributeChanges: 3, SalaryChanges: 3, Bonuses: 3})
	after := s.Truth()
	ap := byID(after)
	for name, ids := range map[string][]string{
		"hires": res.Hires, "terminations": res.Terminations, "deletions": res.Deletions, "renames": res.Renames,
		"email changes": res.EmailChanges, "attribute changes": res.AttributeChanges,
		"salary changes": res.SalaryChanges, "bonuses": res.Bonuses,
	} {
		if len(ids) != 3 {
			t.Errorf("%s: %d ids, want 3", name, len(ids))
		}
	}
	seen := map[string]string{}
	for kind, ids := range map[string][]string{"hire": res.Hires, "termination": res.Terminations, "deletion": res.Deletions,
		"rename": res.Renames, "email": res.EmailChanges, "attribute": res.AttributeChanges, "salary": res.SalaryChanges, "bonus": res.Bonuses} {
		for _, id := range ids {
			if other, dup := seen[id]; dup {
				t.Errorf("person %s affected by both %s and %s in one churn", id, other, kind)
			}
			seen[id] = kind
		}
	}
	movedForward := func(kind, id string) {
		t.Helper()
		if _, deleted := ap[id]; !deleted {
			return // deleted by a later kind of the same churn
		}
		b, a := mustTime(t, bp[id].UpdatedAt), mustTime(t, ap[id].UpdatedAt)
		if !a.After(b) || a.Before(now.Truncate(time.Second)) {
			t.Errorf("%s of %s: updated_at %s -> %s, want moved forward to the clock", kind, id, bp[id].UpdatedAt, ap[id].UpdatedAt)
		}
	}

	for _, id := range res.Hires {
		p, ok := ap[id]
		if !ok || p.Status != "ACTIVE" || p.CreatedAt != rfc3339(now) || p.UpdatedAt != rfc3339(now) {
			t.Fatalf("hire %s: %+v", id, p)
		}
		if len(after.Employments[id]) != 1 || len(compsOf(after, id)) != 1 {
			t.Fatalf("hire %s: %d employments, %d compensations", id, len(after.Employments[id]), len(compsOf(after, id)))
		}
	}
	if got := after.Persons[len(after.Persons)-3:]; !slices.Equal(personIDs(got), res.Hires) {
		t.Errorf("hires are not listed last: %v vs %v", personIDs(got), res.Hires)
	}
	for _, id := range res.Terminations {
		p := ap[id]
		emps := after.Employments[id]
		cur := emps[len(emps)-1]
		if _, ok := ap[id]; ok && (p.Status != "INACTIVE" || cur.Termination == nil || cur.Status != "INACTIVE") {
			t.Errorf("termination %s: status %s, employment %+v", id, p.Status, cur)
		}
		movedForward("termination", id)
	}
	for _, id := range res.Deletions {
		if _, ok := ap[id]; ok {
			t.Errorf("deleted person %s still present", id)
		}
		if _, ok := after.Employments[id]; ok {
			t.Errorf("deleted person %s still has employments", id)
		}
		if n := len(compsOf(after, id)); n != 0 {
			t.Errorf("deleted person %s still has %d compensations", id, n)
		}
		if resp, _ := c.get("/v2/persons/" + id); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET deleted person %s: status %d", id, resp.StatusCode)
		}
	}
	for _, id := range res.Renames {
		if a, ok := ap[id]; ok && a.FirstName == bp[id].FirstName && a.LastName == bp[id].LastName {
			t.Errorf("rename of %s changed nothing", id)
		}
		movedForward("rename", id)
	}
	for _, id := range res.EmailChanges {
		if a, ok := ap[id]; ok && a.Email == bp[id].Email {
			t.Errorf("email change of %s changed nothing", id)
		}
		movedForward("email change", id)
	}
	for _, id := range res.AttributeChanges {
		a, ok := ap[id]
		if !ok {
			continue
		}
		ba, _ := json.Marshal(bp[id].CustomAttributes)
		aa, _ := json.Marshal(a.CustomAttributes)
		if string(ba) == string(aa) {
			t.Errorf("attribute change of %s changed nothing", id)
		}
		movedForward("attribute change", id)
	}
	// Compensation-only changes leave the person alone.
	touched := map[string]bool{}
	for _, ids := range [][]string{res.Terminations, res.Renames, res.EmailChanges, res.AttributeChanges} {
		for _, id := range ids {
			touched[id] = true
		}
	}
	for _, id := range append(slices.Clone(res.SalaryChanges), res.Bonuses...) {
		a, ok := ap[id]
		if !ok || touched[id] {
			continue
		}
		if a.UpdatedAt != bp[id].UpdatedAt {
			t.Errorf("compensation change of %s moved the person's updated_at", id)
		}
	}
	for _, id := range res.SalaryChanges {
		if _, ok := ap[id]; !ok {
			continue
		}
		bj, _ := json.Marshal(compsOf(before, id))
		aj, _ := json.Marshal(compsOf(after, id))
		if string(bj) == string(aj) {
			t.Errorf("salary change of %s changed no compensation", id)
		}
	}
	for _, id := range res.Bonuses {
		if _, ok := ap[id]; !ok {
			continue
		}
		found := false
		for _, cp := range compsOf(after, id) {
			if cp.Type.Category == "BONUS" && cp.EffectiveFrom == now.Format(dateLayout) {
				found = true
			}
		}
		if !found {
			t.Errorf("bonus for %s not found", id)
		}
	}
	// Untouched persons are unchanged.
	changed := map[string]bool{}
	for _, ids := range [][]string{res.Hires, res.Terminations, res.Deletions, res.Renames, res.EmailChanges, res.AttributeChanges} {
		for _, id := range ids {
			changed[id] = true
		}
	}
	for id, p := range bp {
		if !changed[id] {
			pj, _ := json.Marshal(p)
			aj, _ := json.Marshal(ap[id])
			if string(pj) != string(aj) {
				t.Errorf("untouched person %s changed", id)
			}
		}
	}
}

func TestUpdatedAtStrictlyIncreases(t *testing.T) {
	clk := newClock(testNow)
	opts := fixed(1, 1)
	opts.Now = clk.Now
	s := NewTestServer(t, opts)
	var last time.Time
	for i := range 5 {
		if i == 3 {
			clk.Advance(-time.Hour) // a clock that goes back must not move updated_at back
		}
		s.Churn(Churn{Renames: 1})
		u := mustTime(t, s.Truth().Persons[0].UpdatedAt)
		if !u.After(last) {
			t.Fatalf("rename %d: updated_at %s not after %s", i, u, last)
		}
		last = u
	}
}

// TestCursorStabilityUnderChurn pages through persons and compensations while persons are
// hired and deleted: no item may repeat, and every item present from start to end is seen
// exactly once.
func TestCursorStabilityUnderChurn(t *testing.T) {
	s := NewTestServer(t, fixed(300, 8))
	c := newAPIClient(t, s)
	start := s.Truth()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Bounded: under the race detector the listing is slow enough for an endless churn to
		// delete every person before it ends, and then the test proves nothing.
		for range 40 {
			select {
			case <-stop:
				return
			default:
				s.Churn(Churn{Hires: 1, Deletions: 1, Bonuses: 1, Renames: 1})
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	type item struct {
		ID string `json:"id"`
	}
	var persons, comps []string
	for path := "/v2/persons?limit=7"; path != ""; {
		p := getPage[item](c, path)
		for _, it := range p.Data {
			persons = append(persons, it.ID)
		}
		s.Churn(Churn{Hires: 1, Deletions: 2}) // and deterministic churn between pages
		path = p.next()
	}
	for path := "/v2/compensations?limit=5&start_date=2026-03-01&end_date=2026-03-31"; path != ""; {
		p := getPage[item](c, path)
		for _, it := range p.Data {
			comps = append(comps, it.ID)
		}
		s.Churn(Churn{Deletions: 1, Bonuses: 2})
		path = p.next()
	}
	close(stop)
	wg.Wait()
	end := s.Truth()

	check := func(kind string, seen []string, startIDs, endIDs []string) {
		t.Helper()
		count := map[string]int{}
		for _, id := range seen {
			count[id]++
			if count[id] > 1 {
				t.Fatalf("%s %s seen twice", kind, id)
			}
		}
		endSet := map[string]bool{}
		for _, id := range endIDs {
			endSet[id] = true
		}
		stable := 0
		for _, id := range startIDs {
			if endSet[id] {
				stable++
				if count[id] != 1 {
					t.Fatalf("%s %s, present throughout, seen %d times", kind, id, count[id])
				}
			}
		}
		if stable == 0 || stable == len(startIDs) {
			t.Fatalf("%s: %d of %d survived; the churn did not test anything", kind, stable, len(startIDs))
		}
	}
	check("person", persons, personIDs(start.Persons), personIDs(end.Persons))
	compIDs := func(tr Truth) []string {
		var out []string
		for _, cp := range tr.Compensations {
			if cp.EffectiveFrom >= "2026-03-01" && cp.EffectiveFrom <= "2026-03-31" {
				out = append(out, cp.ID)
			}
		}
		return out
	}
	check("compensation", comps, compIDs(start), compIDs(end))
}

func TestBackgroundChurn(t *testing.T) {
	opts := fixed(30, 3)
	opts.ChurnEvery = time.Millisecond
	opts.ChurnMix = Churn{Hires: 1}
	s := NewTestServer(t, opts)
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Truth().Persons) == 30 {
		if time.Now().After(deadline) {
			t.Fatal("background churn never hired anyone")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(s.Truth().Persons)
	time.Sleep(5 * time.Millisecond)
	if m := len(s.Truth().Persons); m != n {
		t.Fatalf("churn continued after Close: %d -> %d persons", n, m)
	}
}

// TestChurnEmploymentChanges: an employment-only change moves the employment's updated_at and
// content but not its person's, so a persons listing filtered on updated_at misses it and the
// person's employment listing filtered the same way shows exactly it (the gap issue 13 closes).
func TestChurnEmploymentChanges(t *testing.T) {
	clk := newClock(testNow)
	opts := fixed(120, 5)
	opts.Now = clk.Now
	s := NewTestServer(t, opts)
	c := newAPIClient(t, s)
	before := s.Truth()
	bp := byID(before)
	clk.Advance(time.Hour)
	since := clk.Now().Add(-time.Second).UTC().Format(time.RFC3339)

	res := s.Churn(Churn{EmploymentChanges: 6, CostCenterChanges: 6})
	after := s.Truth()
	ap := byID(after)
	if len(res.EmploymentChanges) != 6 || len(res.CostCenterChanges) != 6 {
		t.Fatalf("changed %d employments and %d cost center lists, want 6 and 6", len(res.EmploymentChanges), len(res.CostCenterChanges))
	}
	changed := map[string]bool{}
	for _, id := range append(slices.Clone(res.EmploymentChanges), res.CostCenterChanges...) {
		if changed[id] {
			t.Errorf("person %s changed twice in one churn", id)
		}
		changed[id] = true
	}
	for id := range changed {
		pj, _ := json.Marshal(bp[id])
		aj, _ := json.Marshal(ap[id])
		if string(pj) != string(aj) {
			t.Errorf("employment change of %s changed the person (updated_at %s -> %s)", id, bp[id].UpdatedAt, ap[id].UpdatedAt)
		}
		be, ae := before.Employments[id], after.Employments[id]
		if len(be) != len(ae) {
			t.Fatalf("person %s: %d employments, were %d", id, len(ae), len(be))
		}
		cur := len(ae) - 1
		for i := range ae {
			bj, _ := json.Marshal(be[i])
			aj, _ := json.Marshal(ae[i])
			switch {
			case i != cur && string(bj) != string(aj):
				t.Errorf("person %s: employment %s changed, not the current one", id, ae[i].ID)
			case i == cur:
				b, a := be[i], ae[i]
				b.UpdatedAt, a.UpdatedAt = "", ""
				bj, _ = json.Marshal(b)
				aj, _ = json.Marshal(a)
				if string(bj) == string(aj) {
					t.Errorf("person %s: employment %s changed nothing but updated_at", id, a.ID)
				}
				if got := mustTime(t, ae[i].UpdatedAt); !got.After(mustTime(t, be[i].UpdatedAt)) || got.Before(clk.Now().Truncate(time.Second)) {
					t.Errorf("employment %s: updated_at %s -> %s, want moved forward to the clock", a.ID, be[i].UpdatedAt, ae[i].UpdatedAt)
				}
			}
		}
	}
	for _, id := range res.CostCenterChanges {
		e := after.Employments[id][len(after.Employments[id])-1]
		sum := 0
		for _, cc := range e.CostCenters {
			sum += mustAtoi(string(*cc.Weight))
		}
		if sum != 100 {
			t.Errorf("employment %s: cost center weights add up to %d", e.ID, sum)
		}
		bj, _ := json.Marshal(before.Employments[id][len(before.Employments[id])-1].CostCenters)
		aj, _ := json.Marshal(e.CostCenters)
		if string(bj) == string(aj) {
			t.Errorf("employment %s: cost centers unchanged", e.ID)
		}
	}

	// What an incremental sync sees: the persons listing shows none of them, each person's
	// employment listing shows exactly the changed employment.
	for _, p := range listAll[personio.Person](c, "/v2/persons?limit=50&updated_at.gt="+since) {
		if changed[p.ID] {
			t.Errorf("persons listing updated since %s shows %s, whose person did not change", since, p.ID)
		}
	}
	for id := range changed {
		got := listAll[personio.Employment](c, "/v2/persons/"+id+"/employments?updated_at.gt="+since)
		want := after.Employments[id][len(after.Employments[id])-1].ID
		if len(got) != 1 || got[0].ID != want {
			t.Errorf("employments of %s updated since %s: %v, want only %s", id, since, got, want)
		}
		if n := len(listAll[personio.Employment](c, "/v2/persons/"+id+"/employments?updated_at.lt="+since)); n != len(after.Employments[id])-1 {
			t.Errorf("employments of %s updated before %s: %d, want %d", id, since, n, len(after.Employments[id])-1)
		}
	}
	// Persons no kind touched are unchanged, employments included.
	for id, p := range bp {
		if changed[id] {
			continue
		}
		pj, _ := json.Marshal(p)
		aj, _ := json.Marshal(ap[id])
		bj, _ := json.Marshal(before.Employments[id])
		ej, _ := json.Marshal(after.Employments[id])
		if string(pj) != string(aj) || string(bj) != string(ej) {
			t.Errorf("untouched person %s changed", id)
		}
	}
}
