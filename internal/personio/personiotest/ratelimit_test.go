package personiotest

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	clk := newClock(testNow)
	// Personio's 5/s compensation limit in force (from 2027-01-13).
	s := NewTestServer(t, Options{Persons: 5, Seed: 1, Now: clk.Now, CompensationRateLimitFrom: testNow})
	c := newAPIClient(t, s)

	for i := range 15 {
		resp, body := c.get("/v2/persons")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i+1, resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("x-ratelimit-remaining"), strconv.Itoa(14-i); got != want {
			t.Errorf("request %d: x-ratelimit-remaining = %q, want %q", i+1, got, want)
		}
		if got := resp.Header.Get("x-ratelimit-burst-capacity"); got != "15" {
			t.Errorf("x-ratelimit-burst-capacity = %q, want 15", got)
		}
		if got := resp.Header.Get("x-ratelimit-replenish-rate"); got != "5" {
			t.Errorf("x-ratelimit-replenish-rate = %q, want 5 (per second)", got)
		}
	}
	resp, body := c.get("/v2/persons")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("16th request: status %d, want 429", resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") != "" {
		t.Error("a 429 must not carry Retry-After")
	}
	if resp.Header.Get("x-ratelimit-remaining") != "0" {
		t.Errorf("429 x-ratelimit-remaining = %q, want 0", resp.Header.Get("x-ratelimit-remaining"))
	}
	errorBodyOf(t, body)

	// Compensations have their own bucket (burst 5).
	for i := range 5 {
		if resp, body := c.get("/v2/compensations"); resp.StatusCode != http.StatusOK {
			t.Fatalf("compensation request %d: status %d: %s", i+1, resp.StatusCode, body)
		}
	}
	if resp, _ := c.get("/v2/compensations"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("6th compensation request: status %d, want 429", resp.StatusCode)
	}

	// One second refills five tokens.
	clk.Advance(time.Second)
	for i := range 5 {
		if resp, _ := c.get("/v2/persons"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after refill, request %d: status %d", i+1, resp.StatusCode)
		}
	}
	if resp, _ := c.get("/v2/persons"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after the refill is spent: status %d, want 429", resp.StatusCode)
	}

	st := s.Stats()
	if st.RateLimited != 3 {
		t.Errorf("Stats.RateLimited = %d, want 3", st.RateLimited)
	}
	if got := st.Requests["GET /v2/persons"][429]; got != 2 {
		t.Errorf("persons 429 count = %d, want 2", got)
	}
	if got := st.Requests["GET /v2/persons"][200]; got != 20 {
		t.Errorf("persons 200 count = %d, want 20", got)
	}
	if got := st.Requests["GET /v2/compensations"][200]; got != 5 {
		t.Errorf("compensations 200 count = %d, want 5", got)
	}
}

func TestTokenRateLimit(t *testing.T) {
	s := NewTestServer(t, Options{Persons: 1, Seed: 1, Now: func() time.Time { return testNow }})
	c := &apiClient{t: t, base: s.URL(), hc: http.DefaultClient}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	for i := range tokenRate.Burst {
		if resp, body := c.postForm("/v2/auth/token", form); resp.StatusCode != http.StatusOK {
			t.Fatalf("token request %d: status %d: %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := c.postForm("/v2/auth/token", form)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("token request over budget: status %d, want 429", resp.StatusCode)
	}
	if got := resp.Header.Get("x-ratelimit-replenish-rate"); got != "2.5" {
		t.Errorf("token x-ratelimit-replenish-rate = %q, want 2.5 (150/min)", got)
	}
	errorBodyOf(t, body)
}

func TestNoRateLimit(t *testing.T) {
	s := NewTestServer(t, Options{Persons: 1, Seed: 1, NoRateLimit: true, Now: func() time.Time { return testNow }})
	c := newAPIClient(t, s)
	for i := range 40 {
		resp, _ := c.get("/v2/persons")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d with limits off", i+1, resp.StatusCode)
		}
		for _, h := range []string{"x-ratelimit-remaining", "x-ratelimit-replenish-rate", "x-ratelimit-burst-capacity"} {
			if v := resp.Header.Get(h); v != "" {
				t.Fatalf("%s = %q with limits off; a client would throttle itself for a budget that does not exist", h, v)
			}
		}
	}
}

// TestNoRateLimitHeaders: the budgets still hold, but no reply announces them, so a client has
// only the 429s to learn from.
func TestNoRateLimitHeaders(t *testing.T) {
	s := NewTestServer(t, Options{Persons: 1, Seed: 1, NoRateLimitHeaders: true, Now: func() time.Time { return testNow }})
	c := newAPIClient(t, s)
	limited := 0
	for i := range 20 {
		resp, _ := c.get("/v2/persons")
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
		}
		for _, h := range []string{"x-ratelimit-remaining", "x-ratelimit-replenish-rate", "x-ratelimit-burst-capacity"} {
			if v := resp.Header.Get(h); v != "" {
				t.Fatalf("request %d (status %d): %s = %q with the headers off", i+1, resp.StatusCode, h, v)
			}
		}
	}
	if limited != 5 {
		t.Errorf("%d of 20 requests at one instant answered 429, want 5 (burst 15)", limited)
	}
}
