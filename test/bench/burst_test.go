package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func TestBurstPlan(t *testing.T) {
	sim, err := personiotest.New(personiotest.Options{Persons: 400, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	truth := sim.Truth()
	ds, err := burstPlan(truth, burstDeliveries, burstPersons, 14)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != burstDeliveries {
		t.Fatalf("%d deliveries, want %d", len(ds), burstDeliveries)
	}
	kinds := map[string]int{}
	for _, d := range ds {
		kinds[d.name]++
		if d.name == personio.EventEmploymentUpdated {
			found := false
			for _, e := range truth.Employments[d.personID] {
				found = found || e.ID == d.employmentID
			}
			if !found {
				t.Fatalf("%s names employment %q, not one of person %s", d.name, d.employmentID, d.personID)
			}
		} else if d.employmentID != "" {
			t.Fatalf("%s names an employment", d.name)
		}
	}
	if kinds[personio.EventPersonUpdated] == 0 || kinds[personio.EventEmploymentUpdated] == 0 || len(kinds) != 2 {
		t.Errorf("events by name %v: want person.updated and employment.updated mixed", kinds)
	}
	least, persons, emps := fewestRequests(ds)
	if persons != burstPersons {
		t.Errorf("%d distinct persons, want %d", persons, burstPersons)
	}
	if emps == 0 || emps > persons || least != (burstPersons+49)/50+emps {
		t.Errorf("fewest %d with %d persons named by an employment event: want %d", least, emps, (burstPersons+49)/50+emps)
	}
	if _, err := burstPlan(truth, 10, 500, 1); err == nil {
		t.Error("a burst about more persons than the company has was planned")
	}
}

func TestFewestRequests(t *testing.T) {
	ds := []delivery{
		{name: personio.EventPersonUpdated, personID: "1"},
		{name: personio.EventEmploymentUpdated, personID: "1", employmentID: "e1"},
		{name: personio.EventEmploymentUpdated, personID: "1", employmentID: "e1"},
		{name: personio.EventPersonUpdated, personID: "2"},
	}
	for i := range 50 { // 52 persons: two chunks
		ds = append(ds, delivery{name: personio.EventPersonUpdated, personID: string(rune('a' + i))})
	}
	if n, p, e := fewestRequests(ds); n != 3 || p != 52 || e != 1 {
		t.Errorf("fewestRequests = %d (%d persons, %d employment listings), want 3 (52, 1)", n, p, e)
	}
}

// TestCountingTransport checks that only a targeted run's API requests to the simulator are
// counted, by kind, and token requests not at all.
func TestCountingTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer other.Close()
	count, restore, err := countTargetedRequests(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	hc := &http.Client{} // no Transport: http.DefaultTransport, as the service's client
	get := func(base, path string, mark bool) {
		ctx := t.Context()
		if mark {
			ctx = targeted(ctx)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get(srv.URL, "/v2/persons?id=1,2", true)
	get(srv.URL, "/v2/persons/1/employments", true)
	get(srv.URL, "/v2/persons/1", true)
	get(srv.URL, "/v2/auth/token", true)
	get(srv.URL, "/v2/persons", false)
	get(other.URL, "/v2/persons", true)
	if p, e, o := count.counts(); p != 1 || e != 1 || o != 1 {
		t.Errorf("counted persons %d, employments %d, others %d; want 1, 1, 1", p, e, o)
	}
	restore()
	if http.DefaultTransport == count {
		t.Error("restore left the counting transport in place")
	}
}
