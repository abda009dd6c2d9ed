package personiotest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// inProcess calls the simulator's handler directly, so a synctest bubble drives its latency
// in virtual time.
type inProcess struct {
	t     *testing.T
	s     *Server
	token string
}

func newInProcess(t *testing.T, s *Server) *inProcess {
	c := &inProcess{t: t, s: s}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	r := httptest.NewRequest(http.MethodPost, "/v2/auth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	c.token = tok.AccessToken
	return c
}

func (c *inProcess) get(path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+c.token)
	w := httptest.NewRecorder()
	c.s.Handler().ServeHTTP(w, r)
	return w
}

// errorType returns errors[0].type of a problem+json reply.
func errorType(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || len(b.Errors) == 0 || b.TraceID == "" {
		t.Fatalf("error body %s: %v", w.Body, err)
	}
	return b.Errors[0].Type
}

const november = "/v2/compensations?start_date=2026-11-01&end_date=2026-11-30"

// TestCompensationConcurrencyLimit: a third compensation request without a person.id filter
// in progress gets 429 compensations.too_many_requests with Retry-After: 30; one filtered by
// person.id does not count and is served.
func TestCompensationConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Options{Persons: 20, Seed: 1, Faults: Faults{Latency: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := newInProcess(t, s)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Go(func() { codes[i] = c.get(november).Code })
		}
		synctest.Wait() // both are in progress (in their latency)

		w := c.get(november)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "30" {
			t.Fatalf("third unfiltered request: %d, Retry-After %q; want 429, 30", w.Code, w.Header().Get("Retry-After"))
		}
		if typ := errorType(t, w); typ != typeCompTooManyRequests {
			t.Errorf("type = %q", typ)
		}
		if w := c.get(november + "&person.id=1"); w.Code != http.StatusOK {
			t.Errorf("filtered request while two are in progress: %d, want 200", w.Code)
		}
		wg.Wait()
		if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
			t.Errorf("the two admitted requests got %v", codes)
		}
		if w := c.get(november); w.Code != http.StatusOK {
			t.Errorf("after they finished: %d, want 200", w.Code)
		}
		st := s.Stats()
		if st.UnfilteredCompensationsPeak != 3 || st.CompensationErrors[typeCompTooManyRequests] != 1 {
			t.Errorf("Stats peak %d, errors %v; want 3 and one too_many_requests", st.UnfilteredCompensationsPeak, st.CompensationErrors)
		}
	})
}

// TestCompensationWorkLimit: a request whose work (persons × days + 100 × limit) exceeds the
// limit gets 422 compensations.unprocessable_content without Retry-After; a shorter range or
// a smaller page does not.
func TestCompensationWorkLimit(t *testing.T) {
	// 200 persons: a month at limit 100 costs 200×30 + 10,000 = 16,000.
	s := NewTestServer(t, Options{Persons: 200, Seed: 1, CompensationWorkLimit: 12_000})
	c := newAPIClient(t, s)
	resp, body := c.get(november)
	if resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("month: %d, Retry-After %q; want 422 without", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if typ := errorBodyOf(t, body).Errors[0].Type; typ != typeCompUnprocessable {
		t.Errorf("type = %q", typ)
	}
	for _, path := range []string{
		"/v2/compensations?start_date=2026-11-01&end_date=2026-11-10",             // 2,000 + 10,000
		"/v2/compensations?start_date=2026-11-01&end_date=2026-11-30&limit=10",    // 6,000 + 1,000
		"/v2/compensations?start_date=2026-11-01&end_date=2026-11-30&person.id=1", // 30 + 10,000
	} {
		if resp, body := c.get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", path, resp.StatusCode, body)
		}
	}
	if got := s.Stats().CompensationErrors[typeCompUnprocessable]; got != 1 {
		t.Errorf("unprocessable count = %d, want 1", got)
	}

	// The default lets the default company's months through and stops a big company's.
	small := NewTestServer(t, Options{Persons: DefaultPersons, Seed: 1})
	if resp, body := newAPIClient(t, small).get(november); resp.StatusCode != http.StatusOK {
		t.Errorf("default company, month: %d %s", resp.StatusCode, body)
	}
}

// TestCompensationUnavailable: with CompensationUnavailable 1 every compensation request gets
// 503 compensations.service_unavailable with Retry-After; persons are unaffected.
func TestCompensationUnavailable(t *testing.T) {
	s := NewTestServer(t, Options{Persons: 5, Seed: 1, CompensationUnavailable: 1, CompensationRetryAfter: 2 * time.Second})
	c := newAPIClient(t, s)
	resp, body := c.get(november)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("%d, Retry-After %q; want 503, 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if typ := errorBodyOf(t, body).Errors[0].Type; typ != typeCompUnavailable {
		t.Errorf("type = %q", typ)
	}
	if resp, _ := c.get("/v2/persons"); resp.StatusCode != http.StatusOK {
		t.Errorf("persons: %d", resp.StatusCode)
	}
	if _, err := New(Options{CompensationUnavailable: 1.5}); err == nil {
		t.Error("CompensationUnavailable 1.5 accepted")
	}
}

// TestCompensationRateLimitFrom: before the effective date compensations have a budget of the
// general size (burst 15); from it, Personio's 5 per second (burst 5).
func TestCompensationRateLimitFrom(t *testing.T) {
	for _, tc := range []struct {
		name  string
		from  time.Time
		burst int
	}{
		{"before 2027-01-13", time.Time{}, 15}, // testNow is 2026-03-18
		{"in force", testNow.Add(-time.Hour), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(testNow)
			s := NewTestServer(t, Options{Persons: 5, Seed: 1, Now: clk.Now, CompensationRateLimitFrom: tc.from})
			c := newAPIClient(t, s)
			for i := range tc.burst {
				if resp, body := c.get("/v2/compensations"); resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
				}
			}
			resp, _ := c.get("/v2/compensations")
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "" {
				t.Fatalf("request %d: %d, Retry-After %q; want the plain 429", tc.burst+1, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if got := resp.Header.Get("x-ratelimit-burst-capacity"); got != strconv.Itoa(tc.burst) {
				t.Errorf("burst capacity %q, want %d", got, tc.burst)
			}
		})
	}
}
