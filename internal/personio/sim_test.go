package personio_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sync/errgroup"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// unlimited is a client budget far above anything the tests need, for simulators with
// NoRateLimit.
var unlimited = personio.Rate{PerMinute: 6e6, Burst: 100}

// simUnlimited is what a simulator with NoRateLimit announces in its x-ratelimit-* headers
// (it announces its configured rate even when it does not enforce it).
var simUnlimited = personiotest.Rate{PerMinute: 6e6, Burst: 100}

// simClient returns a client for the simulator with fast retries.
func simClient(t testing.TB, srv *personiotest.Server, cfg personio.Config) *personio.Client {
	t.Helper()
	cfg.BaseURL = srv.URL()
	cfg.ClientID, cfg.ClientSecret = personiotest.DefaultClientID, personiotest.DefaultClientSecret
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 100*time.Millisecond
	}
	c, err := personio.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func listPersonIDs(t testing.TB, c *personio.Client, f personio.PersonFilter) []string {
	t.Helper()
	var ids []string
	err := c.ListPersons(t.Context(), f, func(ps []personio.Person) error {
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ListPersons(%+v): %v", f, err)
	}
	return ids
}

func personIDs(ps []personio.Person, keep func(personio.Person) bool) []string {
	var ids []string
	for _, p := range ps {
		if keep(p) {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

func TestSimListsTenThousandPersons(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 10000, Seed: 1, NoRateLimit: true, RateLimit: simUnlimited, CompensationRateLimit: simUnlimited})
	c := simClient(t, srv, personio.Config{RateLimit: unlimited, CompensationRateLimit: unlimited})
	truth := srv.Truth()

	var got []personio.Person
	pages := 0
	err := c.ListPersons(t.Context(), personio.PersonFilter{}, func(ps []personio.Person) error {
		pages++
		got = append(got, ps...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(truth.Persons) || len(got) != 10000 {
		t.Fatalf("listed %d persons, truth has %d", len(got), len(truth.Persons))
	}
	for i := range got {
		if got[i].ID != truth.Persons[i].ID || got[i].Email != truth.Persons[i].Email ||
			got[i].UpdatedAt != truth.Persons[i].UpdatedAt || len(got[i].CustomAttributes) != len(truth.Persons[i].CustomAttributes) {
			t.Fatalf("person %d = %+v, truth %+v", i, got[i], truth.Persons[i])
		}
	}
	if pages != 200 {
		t.Errorf("pages = %d, want 200 (limit 50)", pages)
	}
	if s := c.Stats(); s.Pages != 200 || s.Retries != 0 || s.RateLimited != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestSimPersonFilters(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 300, Seed: 2, NoRateLimit: true, RateLimit: simUnlimited, CompensationRateLimit: simUnlimited})
	c := simClient(t, srv, personio.Config{RateLimit: unlimited, CompensationRateLimit: unlimited})
	truth := srv.Truth().Persons
	p0, p1, mid := truth[0], truth[1], truth[len(truth)/2]
	for _, p := range truth[len(truth)/2:] {
		if p.PreferredName != "" {
			mid = p // a person with every name field set
			break
		}
	}
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("truth timestamp %q: %v", s, err)
		}
		return ts
	}
	midCreated, midUpdated := at(mid.CreatedAt), at(mid.UpdatedAt)

	tests := []struct {
		name string
		f    personio.PersonFilter
		keep func(personio.Person) bool
	}{
		{"all, page size 7", personio.PersonFilter{Limit: 7}, func(personio.Person) bool { return true }},
		{"ids", personio.PersonFilter{IDs: []string{p1.ID, mid.ID, "no-such-id"}},
			func(p personio.Person) bool { return p.ID == p1.ID || p.ID == mid.ID }},
		{"emails", personio.PersonFilter{Emails: []string{p0.Email, strings.ToUpper(mid.Email)}},
			func(p personio.Person) bool { return p.ID == p0.ID || p.ID == mid.ID }},
		{"first name", personio.PersonFilter{FirstName: mid.FirstName},
			func(p personio.Person) bool { return p.FirstName == mid.FirstName }},
		{"last name", personio.PersonFilter{LastName: mid.LastName},
			func(p personio.Person) bool { return p.LastName == mid.LastName }},
		{"preferred name", personio.PersonFilter{PreferredName: mid.PreferredName},
			func(p personio.Person) bool { return p.PreferredName == mid.PreferredName }},
		{"active", personio.PersonFilter{Status: "ACTIVE"}, func(p personio.Person) bool { return p.Status == "ACTIVE" }},
		{"inactive", personio.PersonFilter{Status: "INACTIVE", Limit: 3}, func(p personio.Person) bool { return p.Status == "INACTIVE" }},
		{"created at", personio.PersonFilter{CreatedAt: midCreated},
			func(p personio.Person) bool { return at(p.CreatedAt).Equal(midCreated) }},
		{"created after", personio.PersonFilter{CreatedAfter: midCreated},
			func(p personio.Person) bool { return at(p.CreatedAt).After(midCreated) }},
		{"created before", personio.PersonFilter{CreatedBefore: midCreated},
			func(p personio.Person) bool { return at(p.CreatedAt).Before(midCreated) }},
		{"updated at", personio.PersonFilter{UpdatedAt: midUpdated},
			func(p personio.Person) bool { return at(p.UpdatedAt).Equal(midUpdated) }},
		{"updated after", personio.PersonFilter{UpdatedAfter: midUpdated},
			func(p personio.Person) bool { return at(p.UpdatedAt).After(midUpdated) }},
		{"updated before", personio.PersonFilter{UpdatedBefore: midUpdated},
			func(p personio.Person) bool { return at(p.UpdatedAt).Before(midUpdated) }},
		{"combined", personio.PersonFilter{Status: "ACTIVE", UpdatedAfter: midUpdated.Add(-30 * 24 * time.Hour), CreatedBefore: midCreated, Limit: 11},
			func(p personio.Person) bool {
				return p.Status == "ACTIVE" && at(p.UpdatedAt).After(midUpdated.Add(-30*24*time.Hour)) && at(p.CreatedAt).Before(midCreated)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := personIDs(truth, tt.keep)
			if len(want) == 0 {
				t.Fatalf("the filter matches nothing in the dataset; the test would prove nothing")
			}
			got := listPersonIDs(t, c, tt.f)
			if !slices.Equal(got, want) {
				t.Errorf("got %d ids %v\nwant %d ids %v", len(got), head(got), len(want), head(want))
			}
		})
	}
	// A filter that matches some but not all persons really narrows.
	if n := len(personIDs(truth, tests[6].keep)); n == len(truth) {
		t.Errorf("every person is ACTIVE; the status filter test proves little")
	}

	// Get by id, and a missing id.
	p, err := c.GetPerson(t.Context(), mid.ID)
	if err != nil || p.ID != mid.ID || p.Email != mid.Email {
		t.Errorf("GetPerson = %+v, %v", p, err)
	}
	if _, err := c.GetPerson(t.Context(), "999999999"); !isNotFound(err) {
		t.Errorf("GetPerson(missing) err = %v, want ErrNotFound", err)
	}
}

func head(ids []string) []string { return ids[:min(len(ids), 8)] }

func isNotFound(err error) bool { return errors.Is(err, personio.ErrNotFound) }

func TestSimEmploymentsAndCompensations(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 120, Seed: 3, NoRateLimit: true, RateLimit: simUnlimited, CompensationRateLimit: simUnlimited})
	c := simClient(t, srv, personio.Config{RateLimit: unlimited, CompensationRateLimit: unlimited})
	truth := srv.Truth()
	ctx := t.Context()

	// Employments of every person, one page each and with page size 1.
	for i, p := range truth.Persons {
		limit := 0
		if i%10 == 0 {
			limit = 1
		}
		var got []string
		err := c.ListEmployments(ctx, p.ID, personio.EmploymentFilter{Limit: limit}, func(es []personio.Employment) error {
			for _, e := range es {
				got = append(got, e.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, e := range truth.Employments[p.ID] {
			want = append(want, e.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("person %s: employments %v, want %v", p.ID, got, want)
		}
		if len(want) > 0 && i%20 == 0 {
			e, err := c.GetEmployment(ctx, p.ID, want[0])
			if err != nil || e.ID != want[0] {
				t.Errorf("GetEmployment = %+v, %v", e, err)
			}
			updated, _ := time.Parse(time.RFC3339, truth.Employments[p.ID][0].UpdatedAt)
			var n int
			err = c.ListEmployments(ctx, p.ID, personio.EmploymentFilter{UpdatedAt: updated}, func(es []personio.Employment) error {
				n += len(es)
				return nil
			})
			if err != nil || n == 0 {
				t.Errorf("employments updated at %v: %d, %v", updated, n, err)
			}
			err = c.ListEmployments(ctx, p.ID, personio.EmploymentFilter{UpdatedAfter: updated.Add(24 * 365 * time.Hour)}, func(es []personio.Employment) error {
				n = -len(es)
				return nil
			})
			if err != nil || n > 0 {
				t.Errorf("employments updated in a year: %d, %v", -n, err)
			}
		}
	}

	// Compensations: every month window from the oldest effective date to today.
	from := time.Now().UTC()
	for _, cp := range truth.Compensations {
		if d, err := time.Parse(time.DateOnly, cp.EffectiveFrom); err == nil && d.Before(from) {
			from = d
		}
	}
	want := map[string]personio.Compensation{}
	for _, cp := range truth.Compensations {
		want[cp.ID] = cp
	}
	got := map[string]personio.Compensation{}
	byEntity := map[string]int{}
	windows := personio.MonthWindows(from, time.Now().UTC())
	for _, w := range windows {
		err := c.ListCompensations(ctx, personio.CompensationFilter{Window: w, Limit: 37}, func(cs []personio.Compensation) error {
			for _, cp := range cs {
				if _, dup := got[cp.ID]; dup {
					return fmt.Errorf("compensation %s listed twice", cp.ID)
				}
				got[cp.ID] = cp
				byEntity[cp.LegalEntity.ID]++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("window %s: %v", w, err)
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("listed %d compensations over %d windows, truth has %d", len(got), len(windows), len(want))
	}
	for id, w := range want {
		if g := got[id]; g.Amount != w.Amount || g.Person != w.Person || g.EffectiveFrom != w.EffectiveFrom {
			t.Errorf("compensation %s = %+v, want %+v", id, g, w)
		}
	}

	// person.id and legal_entity.id filters narrow the listing.
	last := windows[len(windows)-1]
	pid := truth.Persons[0].ID
	var entity string
	for e := range byEntity {
		entity = e
		break
	}
	err := c.ListCompensations(ctx, personio.CompensationFilter{Window: last, PersonIDs: []string{pid}}, func(cs []personio.Compensation) error {
		for _, cp := range cs {
			if cp.Person.ID != pid {
				return fmt.Errorf("person filter returned person %s", cp.Person.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	err = c.ListCompensations(ctx, personio.CompensationFilter{Window: last, LegalEntityIDs: []string{entity}}, func(cs []personio.Compensation) error {
		for _, cp := range cs {
			if cp.LegalEntity.ID != entity {
				return fmt.Errorf("legal entity filter returned entity %s", cp.LegalEntity.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func TestSimRateLimitStorm(t *testing.T) {
	// The server allows 1200/min with bursts of 2; the client is configured 4x higher. Six
	// streams start at once, so the first requests overrun the server's burst: the latency
	// keeps the server's rate-limit headers from reaching the client before they are sent.
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 100, Seed: 4,
		RateLimit: personiotest.Rate{PerMinute: 1200, Burst: 2},
		Faults:    personiotest.Faults{Latency: 50 * time.Millisecond}})
	c := simClient(t, srv, personio.Config{RateLimit: personio.Rate{PerMinute: 4800, Burst: 8}, MaxAttempts: 2})
	want := len(srv.Truth().Persons)

	g, ctx := errgroup.WithContext(t.Context())
	counts := make([]int, 6)
	for i := range counts {
		g.Go(func() error {
			return c.ListPersons(ctx, personio.PersonFilter{Limit: 10}, func(ps []personio.Person) error {
				counts[i] += len(ps)
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("listing under a 429 storm failed: %v", err)
	}
	for i, n := range counts {
		if n != want {
			t.Errorf("stream %d got %d persons, want %d", i, n, want)
		}
	}
	st, cs := srv.Stats(), c.Stats()
	if st.RateLimited == 0 || cs.RateLimited != st.RateLimited {
		t.Errorf("server sent %d 429s, client saw %d; want some, equal", st.RateLimited, cs.RateLimited)
	}
	if p, _ := c.RateLimits(); p > 20 {
		t.Errorf("client rate after the storm = %v/s, want at most the server's 20/s", p)
	}
	t.Logf("429s %d, requests %d, limiter wait %v", cs.RateLimited, cs.Requests, cs.LimiterWait)
}

func TestSimFaultsRetried(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 2000, Seed: 5, NoRateLimit: true, RateLimit: simUnlimited, CompensationRateLimit: simUnlimited,
		Faults: personiotest.Faults{P500: 0.06, P502: 0.04, P503: 0.04, P504: 0.04, Reset: 0.04, Truncate: 0.04, Malformed: 0.04}})
	reg := prometheus.NewPedanticRegistry()
	c := simClient(t, srv, personio.Config{Registerer: reg, MaxAttempts: 10, RateLimit: unlimited})
	srv.SetFaults(personiotest.Faults{}) // no faults while the truth is read
	truth := srv.Truth()
	srv.SetFaults(personiotest.Faults{P500: 0.06, P502: 0.04, P503: 0.04, P504: 0.04, Reset: 0.04, Truncate: 0.04, Malformed: 0.04})

	got := listPersonIDs(t, c, personio.PersonFilter{Limit: 20})
	if want := personIDs(truth.Persons, func(personio.Person) bool { return true }); !slices.Equal(got, want) {
		t.Fatalf("listed %d persons, want %d", len(got), len(want))
	}
	st := srv.Stats()
	faults := int64(0)
	for _, n := range st.Faults {
		faults += n
	}
	if faults == 0 || c.Stats().Retries == 0 {
		t.Fatalf("faults %v, client retries %d: the test injected nothing", st.Faults, c.Stats().Retries)
	}
	// Every fault costs one retry, except resets on reused connections, which net/http
	// repeats by itself.
	if r := c.Stats().Retries; r < faults-st.Faults["reset"] || r > faults {
		t.Errorf("client retries %d, injected faults %d (%v)", r, faults, st.Faults)
	}
	count, err := testutil.GatherAndCount(reg, "personio_cdc_api_retries_total")
	if err != nil || count < 3 {
		t.Errorf("retry reasons recorded: %d (%v), want server_error, timeout, malformed, …", count, err)
	}
	t.Logf("faults %v, client %+v", st.Faults, c.Stats())
}

func TestSimTokenExpiresMidListing(t *testing.T) {
	// Tokens die after 400 ms although the token response announces 24 h; listing 40 pages
	// at 20 ms each takes longer, so the client meets 401s and must refresh each time.
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 1000, Seed: 6, NoRateLimit: true, RateLimit: simUnlimited, CompensationRateLimit: simUnlimited,
		Faults: personiotest.Faults{TokenTTL: 400 * time.Millisecond, Latency: 20 * time.Millisecond}})
	c := simClient(t, srv, personio.Config{RateLimit: unlimited, CompensationRateLimit: unlimited})
	got := listPersonIDs(t, c, personio.PersonFilter{Limit: 25})
	if len(got) != 1000 {
		t.Fatalf("listed %d persons, want 1000", len(got))
	}
	st := srv.Stats()
	unauthorized := st.Requests["GET /v2/persons"][401]
	if unauthorized == 0 {
		t.Fatalf("no 401 seen: %v", st.Requests)
	}
	var tokens int64
	for ep, byStatus := range st.Requests {
		if strings.Contains(ep, "/v2/auth/token") {
			tokens += byStatus[200]
		}
	}
	if tokens != unauthorized+1 {
		t.Errorf("token requests %d, 401s %d: want one refresh per 401", tokens, unauthorized)
	}
}

// BenchmarkLimiterEfficiency measures how much of a 5 req/s budget (burst 5, simulator and
// client alike) eight concurrent streams use when every request takes 300 ms. It reports the
// achieved rate ÷ budget, the stricter requests sent ÷ (burst + rate × elapsed), and the 429s
// the simulator sent. Goal: ≥ 0.97 and no 429. One iteration lasts about 22 s:
//
//	go test -run '^$' -bench LimiterEfficiency -benchtime 1x ./internal/personio/
func BenchmarkLimiterEfficiency(b *testing.B) {
	const (
		perMinute = 300
		burst     = 5
		streams   = 8
		window    = 20 * time.Second
	)
	for b.Loop() {
		srv := personiotest.NewTestServer(b, personiotest.Options{Persons: 400, Seed: 7,
			RateLimit: personiotest.Rate{PerMinute: perMinute, Burst: burst},
			Faults:    personiotest.Faults{Latency: 300 * time.Millisecond}})
		c := simClient(b, srv, personio.Config{RateLimit: personio.Rate{PerMinute: perMinute, Burst: burst}})
		if _, err := c.GetPerson(b.Context(), "1"); err != nil && !errors.Is(err, personio.ErrNotFound) {
			b.Fatal(err) // fetch the token before the clock starts
		}
		time.Sleep(time.Second) // let both buckets refill
		before := c.Stats().Requests

		ctx, cancel := context.WithTimeout(b.Context(), window)
		var wg sync.WaitGroup
		var pages atomic.Int64
		start := time.Now()
		for range streams {
			wg.Go(func() {
				for ctx.Err() == nil {
					err := c.ListPersons(ctx, personio.PersonFilter{Limit: 1}, func([]personio.Person) error {
						pages.Add(1)
						return nil
					})
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		cancel()
		// Requests whose reply arrived in the window; requests cut off by the deadline were
		// sent too and count against the server's budget.
		sent := c.Stats().Requests - before
		rate := perMinute / 60.0
		b.ReportMetric(float64(sent)/elapsed.Seconds()/rate, "rate/budget")
		// Stricter: the budget of the window includes the bucket that was full at the start.
		b.ReportMetric(float64(sent)/(burst+rate*elapsed.Seconds()), "sent/(burst+rate*t)")
		b.ReportMetric(float64(pages.Load())/elapsed.Seconds(), "pages/s")
		b.ReportMetric(float64(srv.Stats().RateLimited), "429s")
	}
}

func TestSimWrongSecretIsAuthError(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 10, Seed: 8})
	c, err := personio.New(personio.Config{BaseURL: srv.URL(), ClientID: personiotest.DefaultClientID, ClientSecret: "wrong-secret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPerson(t.Context(), "1")
	var ae *personio.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, personio.ErrAuth) || personio.Retryable(err) {
		t.Fatalf("err = %v, want a non-retryable AuthError", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error %q leaks the secret", err)
	}
	var tokens int64
	for ep, byStatus := range srv.Stats().Requests {
		if strings.Contains(ep, "/v2/auth/token") {
			for _, n := range byStatus {
				tokens += n
			}
		}
	}
	if tokens != 1 {
		t.Errorf("token requests = %d, want 1 (not retried)", tokens)
	}
	t.Log(err)
}

// TestSimHostile runs the client against each hostile behaviour of the simulator's Faults.
func TestSimHostile(t *testing.T) {
	newSim := func(t *testing.T, f personiotest.Faults) (*personiotest.Server, *personio.Client) {
		srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 120, Seed: 11, NoRateLimit: true, Faults: f})
		return srv, simClient(t, srv, personio.Config{RateLimit: unlimited, CompensationRateLimit: unlimited})
	}
	// other is another origin that answers like Personio; it must never be asked.
	other := personiotest.NewTestServer(t, personiotest.Options{Persons: 5, Seed: 12, NoRateLimit: true})

	t.Run("redirect api", func(t *testing.T) {
		_, c := newSim(t, personiotest.Faults{RedirectAPI: other.URL()})
		_, err := c.GetPerson(t.Context(), "1")
		if !errors.Is(err, personio.ErrCrossOriginRedirect) || personio.Retryable(err) {
			t.Fatalf("err = %v, want a non-retryable ErrCrossOriginRedirect", err)
		}
	})
	t.Run("redirect token", func(t *testing.T) {
		_, c := newSim(t, personiotest.Faults{RedirectToken: other.URL()})
		err := c.ListPersons(t.Context(), personio.PersonFilter{}, func([]personio.Person) error { return nil })
		if !errors.Is(err, personio.ErrCrossOriginRedirect) || strings.Contains(err.Error(), personiotest.DefaultClientSecret) {
			t.Fatalf("err = %v, want ErrCrossOriginRedirect without the secret", err)
		}
	})
	if n := other.Stats().Total; n != 0 {
		t.Errorf("the other origin was asked %d times", n)
	}
	t.Run("endless empty pages", func(t *testing.T) {
		srv, c := newSim(t, personiotest.Faults{EndlessEmptyPages: true})
		n := 0
		err := c.ListPersons(t.Context(), personio.PersonFilter{}, func(ps []personio.Person) error { n += len(ps); return nil })
		if !errors.Is(err, personio.ErrListingBrokenOff) {
			t.Fatalf("err = %v, want ErrListingBrokenOff", err)
		}
		// 120 persons in 3 pages of 50, then empty pages until 8 in a row.
		if got := srv.Stats().Endpoint("GET /v2/persons"); n != 120 || got != 3+8 {
			t.Errorf("%d persons in %d requests, want 120 in 11", n, got)
		}
	})
	for name, f := range map[string]personiotest.Faults{
		"expires_in -5": {ExpiresIn: -5}, "expires_in 2^40": {ExpiresIn: 1 << 40}, "no expires_in": {OmitExpiresIn: true},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c := newSim(t, f)
			for range 30 {
				if _, err := c.GetPerson(t.Context(), "1"); err != nil && !errors.Is(err, personio.ErrNotFound) {
					t.Fatal(err)
				}
			}
			if got := srv.Stats().Endpoint("POST /v2/auth/token"); got != 1 {
				t.Errorf("30 calls sent %d token requests, want 1", got)
			}
		})
	}
	t.Run("echo secret", func(t *testing.T) {
		_, c := newSim(t, personiotest.Faults{EchoSecret: true})
		_, err := c.GetPerson(t.Context(), "1")
		if !errors.Is(err, personio.ErrAuth) || strings.Contains(err.Error(), personiotest.DefaultClientSecret) {
			t.Fatalf("err = %v, want ErrAuth without the secret", err)
		}
	})
}
