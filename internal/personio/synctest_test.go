package personio

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// throttlingAPI serves n persons in pages of limit under a server-side token bucket, answering
// 429 (without Retry-After) when it is empty, like Personio. It runs in-process so that a
// synctest bubble can drive it in virtual time.
type throttlingAPI struct {
	n         int
	bucket    *rate.Limiter
	noHeaders bool // send no x-ratelimit-* headers: the client has only 429s to go by

	mu        sync.Mutex
	ok, over  int
	lastToken time.Time
}

func (s *throttlingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	allowed := s.bucket.AllowN(now, 1)
	if !s.noHeaders {
		w.Header().Set(headerRemaining, strconv.Itoa(int(s.bucket.TokensAt(now))))
		w.Header().Set(headerReplenishRate, strconv.FormatFloat(float64(s.bucket.Limit()), 'f', -1, 64))
		w.Header().Set(headerBurstCapacity, strconv.Itoa(s.bucket.Burst()))
	}
	s.mu.Lock()
	if allowed {
		s.ok++
	} else {
		s.over++
	}
	s.mu.Unlock()
	if !allowed {
		problemJSON(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	var ids []string
	for i := start; i < min(start+limit, s.n); i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	next := ""
	if start+limit < s.n {
		next = fmt.Sprintf("/v2/persons?limit=%d&cursor=%d", limit, start+limit)
	}
	writePage(w, persons(ids...), next)
}

// TestRateLimitStormRecovers lists with a client budget 4x the server's: the client sees 429s,
// lowers its rate, and still delivers every person; no call fails.
func TestRateLimitStormRecovers(t *testing.T) {
	for _, noHeaders := range []bool{false, true} {
		t.Run(fmt.Sprintf("noHeaders=%v", noHeaders), func(t *testing.T) { testRateLimitStorm(t, noHeaders) })
	}
}

func testRateLimitStorm(t *testing.T, noHeaders bool) {
	synctest.Test(t, func(t *testing.T) {
		api := &throttlingAPI{n: 2000, bucket: rate.NewLimiter(10, 2), noHeaders: noHeaders} // 600/min, burst 2
		f := newFake(t, api.ServeHTTP)
		c := f.client(Config{
			BaseURL:    "http://personio.test",
			HTTPClient: &http.Client{Transport: handlerTransport{f}},
			RateLimit:  Rate{PerMinute: 2400, Burst: 8},
			MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second,
			MaxAttempts: 2, // 429s are not bounded by MaxAttempts
		})
		// Four concurrent streams, each listing every person.
		g, ctx := errgroup.WithContext(t.Context())
		counts := make([]int, 4)
		start := time.Now()
		for i := range counts {
			g.Go(func() error {
				return c.ListPersons(ctx, PersonFilter{Limit: 10}, func(ps []Person) error {
					counts[i] += len(ps)
					return nil
				})
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("listing under a 429 storm failed: %v", err)
		}
		elapsed := time.Since(start)
		for i, n := range counts {
			if n != api.n {
				t.Errorf("stream %d got %d persons, want %d", i, n, api.n)
			}
		}
		s := c.Stats()
		if int(s.RateLimited) != api.over {
			t.Errorf("client saw %d 429s, server sent %d", s.RateLimited, api.over)
		}
		// With headers the client may adopt the server's budget before it overruns it; with
		// 429s alone it must run into some.
		if noHeaders && s.RateLimited == 0 {
			t.Error("no 429 seen: the test did not exercise the storm")
		}
		if p, _ := c.RateLimits(); p >= 40 {
			t.Errorf("rate after the storm = %v/s, want below the configured 40/s", p)
		}
		// 800 pages at the server's 10/s take at least 80 s. Following the headers the client
		// needs barely more; with 429s alone AIMD keeps it near the server's rate.
		maxElapsed := 85 * time.Second
		if noHeaders {
			maxElapsed = 100 * time.Second
		}
		if elapsed < 79*time.Second || elapsed > maxElapsed {
			t.Errorf("800 pages took %v of virtual time, want between 80 s and %v", elapsed, maxElapsed)
		}
		t.Logf("pages %d, 429s %d, virtual time %v, final rate %.2f/s", api.ok, api.over, elapsed, c.persons.Limit())
	})
}

// TestTokenRefreshedBeforeExpiry checks the token is reused while fresh and replaced shortly
// before it expires, without a 401 round trip.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
		f.tokenTTL = 100 // seconds; refreshed 10 s early
		c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}})
		list := func() {
			t.Helper()
			if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
				t.Fatal(err)
			}
		}
		list()
		time.Sleep(85 * time.Second)
		list()
		if got := f.tokenCalls.Load(); got != 1 {
			t.Errorf("after 85 s: %d token requests, want 1 (cached)", got)
		}
		time.Sleep(10 * time.Second) // 95 s: inside the refresh margin
		list()
		if got := f.tokenCalls.Load(); got != 2 {
			t.Errorf("after 95 s: %d token requests, want 2 (refreshed early)", got)
		}
		if got := f.apiCalls.Load(); got != 3 {
			t.Errorf("API calls = %d, want 3 (no 401 round trip)", got)
		}
	})
}

// TestConcurrentCallersShareOneToken checks that parallel first requests fetch one token.
func TestConcurrentCallersShareOneToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
		c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}})
		var g errgroup.Group
		for range 10 {
			g.Go(func() error { _, err := c.GetPerson(t.Context(), "1"); return err })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := f.tokenCalls.Load(); got != 1 {
			t.Errorf("token requests = %d, want 1", got)
		}
	})
}

// TestRetryAfterHonoured checks that a Retry-After on a 429 or 503 delays the retry at least
// that long (Personio sends none today; the client must still respect one).
func TestRetryAfterHonoured(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls []time.Time
				f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
					calls = append(calls, time.Now())
					if len(calls) == 1 {
						w.Header().Set("Retry-After", "7")
						problemJSON(w, status, http.StatusText(status))
						return
					}
					writePage(w, persons("1"), "")
				})
				c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}})
				if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
					t.Fatal(err)
				}
				if len(calls) != 2 {
					t.Fatalf("%d calls, want 2", len(calls))
				}
				if d := calls[1].Sub(calls[0]); d < 7*time.Second {
					t.Errorf("retried after %v, want at least 7 s", d)
				}
			})
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	c := &Client{minBackoff: 100 * time.Millisecond, maxBackoff: 2 * time.Second}
	tests := []struct {
		n       int
		ceiling time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, 1600 * time.Millisecond},
		{6, 2 * time.Second}, {40, 2 * time.Second}, {1000, 2 * time.Second}}
	for _, tt := range tests {
		var maxSeen time.Duration
		lowSeen := false
		for range 2000 {
			d := c.backoff(tt.n)
			if d < 0 || d > tt.ceiling {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", tt.n, d, tt.ceiling)
			}
			maxSeen = max(maxSeen, d)
			lowSeen = lowSeen || d < tt.ceiling/4
		}
		// Full jitter spreads over the whole range.
		if maxSeen < tt.ceiling*3/4 || !lowSeen {
			t.Errorf("backoff(%d): max %v over 2000 draws, low values seen %v: not spread over [0, %v]", tt.n, maxSeen, lowSeen, tt.ceiling)
		}
	}
}

// TestLimiterWaitCountsInStats checks that time spent on the limiter is reported.
func TestLimiterWaitCountsInStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
		c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}},
			RateLimit: Rate{PerMinute: 60, Burst: 2}})
		for range 3 {
			if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
				t.Fatal(err)
			}
		}
		// Local bucket of 1 at 1/s: the 2nd and 3rd request wait 1 s each.
		if s := c.Stats(); !near(s.LimiterWait, 2*time.Second) || s.Requests != 3 || s.Pages != 3 {
			t.Errorf("Stats = %+v, want 2 s limiter wait over 3 requests", s)
		}
	})
}

// TestBudgetTakenAfterTheToken: requests take from the budget only once the access token is
// there. Counted while the token was still being fetched, they would all reach the server at
// the moment it arrives, more at once than the server's burst allows.
func TestBudgetTakenAfterTheToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &throttlingAPI{n: 1, bucket: rate.NewLimiter(1, 3)} // 60/min, burst 3
		f := newFake(t, api.ServeHTTP)
		f.tokenStatus = func(int64) int {
			time.Sleep(2 * time.Second) // a slow token endpoint
			return 0
		}
		c := f.client(Config{
			BaseURL:    "http://personio.test",
			HTTPClient: &http.Client{Transport: handlerTransport{f}},
			RateLimit:  Rate{PerMinute: 60, Burst: 3},
		})
		var g errgroup.Group
		for range 6 {
			g.Go(func() error {
				return c.ListPersons(t.Context(), PersonFilter{Limit: 10}, func([]Person) error { return nil })
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if api.over != 0 || api.ok != 6 {
			t.Errorf("server answered %d requests and refused %d, want 6 and none", api.ok, api.over)
		}
	})
}
