package personiotest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

func TestListPersonsPaging(t *testing.T) {
	s := NewTestServer(t, fixed(123, 3))
	c := newAPIClient(t, s)
	first := getPage[personio.Person](c, "/v2/persons")
	if len(first.Data) != 10 {
		t.Fatalf("default page size = %d, want 10", len(first.Data))
	}
	next := first.next()
	if !strings.HasPrefix(next, s.URL()+"/v2/persons?") {
		t.Fatalf("next href %q is not absolute on the request's host", next)
	}
	if self := first.Meta.Links["self"].Href; self != s.URL()+"/v2/persons" {
		t.Errorf("self href = %q", self)
	}
	all := listAll[personio.Person](c, "/v2/persons?limit=50")
	if got, want := personIDs(all), personIDs(s.Truth().Persons); !slices.Equal(got, want) {
		t.Fatalf("listing returned %d persons, want the %d of the truth in order", len(got), len(want))
	}
	last := getPage[personio.Person](c, "/v2/persons?limit=50&cursor="+url.QueryEscape(encodeCursor('p', s.data.persons[99].seq)))
	if len(last.Data) != 23 || last.next() != "" {
		t.Fatalf("last page: %d items, next %q; want 23 and no next", len(last.Data), last.next())
	}
	// A page that ends exactly at the last person has no next link.
	exact := getPage[personio.Person](c, "/v2/persons?limit=23&cursor="+url.QueryEscape(encodeCursor('p', s.data.persons[99].seq)))
	if exact.next() != "" {
		t.Fatalf("page ending at the last person has next %q", exact.next())
	}
	// The next link keeps the filters.
	f := getPage[personio.Person](c, "/v2/persons?limit=2&status=ACTIVE")
	if u, _ := url.Parse(f.next()); u.Query().Get("status") != "ACTIVE" || u.Query().Get("limit") != "2" {
		t.Fatalf("next link %q lost the query", f.next())
	}
}

func TestListPersonsFilters(t *testing.T) {
	s := NewTestServer(t, fixed(200, 5))
	c := newAPIClient(t, s)
	truth := s.Truth().Persons
	p0, p1, p2 := truth[3], truth[50], truth[120]
	var withPref personio.Person
	for _, p := range truth {
		if p.PreferredName != "" && withPref.ID == "" {
			withPref = p
		}
	}
	mid := truth[100]
	midCreated, _ := time.Parse(time.RFC3339, mid.CreatedAt)
	midUpdated, _ := time.Parse(time.RFC3339, mid.UpdatedAt)

	filter := func(pred func(personio.Person) bool) []string {
		var out []string
		for _, p := range truth {
			if pred(p) {
				out = append(out, p.ID)
			}
		}
		return out
	}
	ts := func(p personio.Person, f func(personio.Person) string) time.Time {
		v, _ := time.Parse(time.RFC3339, f(p))
		return v
	}
	created := func(p personio.Person) string { return p.CreatedAt }
	updated := func(p personio.Person) string { return p.UpdatedAt }
	for _, tc := range []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"id list", url.Values{"id": {p0.ID + "," + p2.ID + ",nope"}}, []string{p0.ID, p2.ID}},
		{"email list", url.Values{"email": {p1.Email + "," + strings.ToUpper(p2.Email)}}, []string{p1.ID, p2.ID}},
		{"first_name", url.Values{"first_name": {p1.FirstName}}, filter(func(p personio.Person) bool { return p.FirstName == p1.FirstName })},
		{"last_name", url.Values{"last_name": {p2.LastName}}, filter(func(p personio.Person) bool { return p.LastName == p2.LastName })},
		{"preferred_name", url.Values{"preferred_name": {withPref.PreferredName}}, filter(func(p personio.Person) bool { return p.PreferredName == withPref.PreferredName })},
		{"status", url.Values{"status": {"INACTIVE"}}, filter(func(p personio.Person) bool { return p.Status == "INACTIVE" })},
		{"created_at", url.Values{"created_at": {mid.CreatedAt}}, filter(func(p personio.Person) bool { return ts(p, created).Equal(midCreated) })},
		{"created_at.gt", url.Values{"created_at.gt": {mid.CreatedAt}}, filter(func(p personio.Person) bool { return ts(p, created).After(midCreated) })},
		{"created_at.lt", url.Values{"created_at.lt": {mid.CreatedAt}}, filter(func(p personio.Person) bool { return ts(p, created).Before(midCreated) })},
		{"updated_at", url.Values{"updated_at": {mid.UpdatedAt}}, filter(func(p personio.Person) bool { return ts(p, updated).Equal(midUpdated) })},
		{"updated_at.gt", url.Values{"updated_at.gt": {mid.UpdatedAt}}, filter(func(p personio.Person) bool { return ts(p, updated).After(midUpdated) })},
		{"updated_at.lt", url.Values{"updated_at.lt": {mid.UpdatedAt}}, filter(func(p personio.Person) bool { return ts(p, updated).Before(midUpdated) })},
		{"combined", url.Values{"status": {"ACTIVE"}, "updated_at.gt": {mid.UpdatedAt}}, filter(func(p personio.Person) bool {
			return p.Status == "ACTIVE" && ts(p, updated).After(midUpdated)
		})},
		{"no match", url.Values{"first_name": {"Nobody-At-All"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 && tc.name != "no match" {
				t.Fatal("test data gives no expected match; the case would prove nothing")
			}
			tc.query.Set("limit", "7") // force paging through filtered results
			got := personIDs(listAll[personio.Person](c, "/v2/persons?"+tc.query.Encode()))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	s := NewTestServer(t, fixed(10, 1))
	c := newAPIClient(t, s)
	pid := s.Truth().Persons[0].ID
	for _, path := range []string{
		"/v2/persons?limit=0",
		"/v2/persons?limit=51",
		"/v2/persons?limit=ten",
		"/v2/persons?cursor=bogus",
		"/v2/persons?cursor=" + encodeCursor('c', 3), // a compensation cursor
		"/v2/persons?created_at.lt=wrong-date-format",
		"/v2/persons?id.nooperator=1",
		"/v2/persons?status=RETIRED",
		"/v2/persons/" + pid + "/employments?limit=51",
		"/v2/persons/" + pid + "/employments?updated_at.gt=yesterday",
		"/v2/compensations?limit=0",
		"/v2/compensations?limit=101",
		"/v2/compensations?start_date=2026-03-01",
		"/v2/compensations?start_date=2026-03-10&end_date=2026-03-01",
		"/v2/compensations?start_date=2026-01-01&end_date=2026-02-01",
		"/v2/compensations?start_date=2026-01-15&end_date=2026-03-01",
		"/v2/compensations?start_date=01.03.2026&end_date=2026-03-31",
		"/v2/compensations?start_date=2026-01-31&end_date=2026-02-28",
		"/v2/compensations?person=1",
	} {
		t.Run(path, func(t *testing.T) {
			resp, body := c.get(path)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			errorBodyOf(t, body)
		})
	}
	// Limits at the edges are fine.
	for _, path := range []string{"/v2/persons?limit=1", "/v2/persons?limit=50", "/v2/compensations?limit=100",
		"/v2/compensations?start_date=2026-01-15&end_date=2026-02-14", "/v2/compensations?start_date=2026-02-01&end_date=2026-02-28",
		"/v2/compensations?start_date=2026-01-31&end_date=2026-02-27"} {
		if resp, body := c.get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d: %s", path, resp.StatusCode, body)
		}
	}
}

func TestGetPersonAndEmployments(t *testing.T) {
	s := NewTestServer(t, fixed(60, 9))
	c := newAPIClient(t, s)
	tr := s.Truth()
	var two personio.Person
	for _, p := range tr.Persons {
		if len(p.Employments) == 2 {
			two = p
			break
		}
	}
	if two.ID == "" {
		t.Fatal("no person with two employments")
	}
	resp, body := c.get("/v2/persons/" + two.ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"`+two.ID+`"`) {
		t.Fatalf("get person: %d %s", resp.StatusCode, body)
	}
	emps := listAll[personio.Employment](c, "/v2/persons/"+two.ID+"/employments?limit=1")
	if len(emps) != 2 || emps[0].ID != tr.Employments[two.ID][0].ID || emps[1].ID != tr.Employments[two.ID][1].ID {
		t.Fatalf("employments = %+v", emps)
	}
	for _, e := range emps {
		if e.Person.ID != two.ID {
			t.Errorf("employment %s belongs to %s", e.ID, e.Person.ID)
		}
	}
	byID := getPage[personio.Employment](c, "/v2/persons/"+two.ID+"/employments?id="+emps[1].ID)
	if len(byID.Data) != 1 || byID.Data[0].ID != emps[1].ID {
		t.Fatalf("employment id filter: %+v", byID.Data)
	}
	u0, _ := time.Parse(time.RFC3339, emps[0].UpdatedAt)
	u1, _ := time.Parse(time.RFC3339, emps[1].UpdatedAt)
	gt := getPage[personio.Employment](c, "/v2/persons/"+two.ID+"/employments?updated_at.gt="+url.QueryEscape(emps[0].UpdatedAt))
	want := 0
	if u1.After(u0) {
		want = 1
	}
	if len(gt.Data) != want {
		t.Fatalf("updated_at.gt filter: got %d, want %d", len(gt.Data), want)
	}
	resp, body = c.get("/v2/persons/" + two.ID + "/employments/" + emps[1].ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), emps[1].ID) {
		t.Fatalf("get employment: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/v2/persons/nope", "/v2/persons/nope/employments",
		"/v2/persons/" + two.ID + "/employments/nope", "/v2/nothing-here"} {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
			continue
		}
		errorBodyOf(t, body)
	}
}

func TestCompensations(t *testing.T) {
	s := NewTestServer(t, fixed(80, 11))
	c := newAPIClient(t, s)
	tr := s.Truth()
	inWindow := func(from, to string, pred func(personio.Compensation) bool) []string {
		var out []string
		for _, cp := range tr.Compensations {
			if cp.EffectiveFrom >= from && cp.EffectiveFrom <= to && (pred == nil || pred(cp)) {
				out = append(out, cp.ID)
			}
		}
		return out
	}
	ids := func(cs []personio.Compensation) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	pid := tr.Persons[5].ID
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"default is the current month", "", inWindow("2026-03-01", "2026-03-31", nil)},
		{"previous month", "start_date=2026-02-01&end_date=2026-02-28", inWindow("2026-02-01", "2026-02-28", nil)},
		{"mid-month window", "start_date=2026-01-15&end_date=2026-02-14", inWindow("2026-01-15", "2026-02-14", nil)},
		{"person.id", "start_date=2026-02-01&end_date=2026-02-28&person.id=" + pid,
			inWindow("2026-02-01", "2026-02-28", func(c personio.Compensation) bool { return c.Person.ID == pid })},
		{"legal_entity.id", "legal_entity.id=171",
			inWindow("2026-03-01", "2026-03-31", func(c personio.Compensation) bool { return c.LegalEntity.ID == "171" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 {
				t.Fatal("no expected compensations; the case proves nothing")
			}
			got := ids(listAll[personio.Compensation](c, "/v2/compensations?limit=9&"+tc.query))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %d compensations, want %d\n got %v\nwant %v", len(got), len(tc.want), got, tc.want)
			}
		})
	}
	// The default limit is 100.
	if p := getPage[personio.Compensation](c, "/v2/compensations?start_date=2026-02-01&end_date=2026-02-28"); len(p.Data) != min(100, len(inWindow("2026-02-01", "2026-02-28", nil))) {
		t.Fatalf("default page has %d items", len(p.Data))
	}
}
