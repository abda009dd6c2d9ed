package personio

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// compensationProblem writes Personio's problem+json with one error of the given type.
func compensationProblem(w http.ResponseWriter, status int, typ, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"personio_trace_id": "trace-1",
		"timestamp":         "2026-11-04T00:00:00Z",
		"errors":            []map[string]string{{"title": http.StatusText(status), "detail": "detail", "type": typ}},
	})
}

var novemberWindow = Window{date(2026, 11, 1), date(2026, 11, 30)}

// TestCompensationSlotsBoundUnfilteredRequests: however many listings run at once, at most
// DefaultCompensationConcurrency (2) compensation requests without a person.id filter are in
// flight; requests filtered by person.id are not held back by them.
func TestCompensationSlotsBoundUnfilteredRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu                      sync.Mutex
			unfiltered, filtered    int
			maxUnfiltered, maxTotal int
		)
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			isFiltered := r.URL.Query().Get("person.id") != ""
			mu.Lock()
			if isFiltered {
				filtered++
			} else {
				unfiltered++
			}
			maxUnfiltered = max(maxUnfiltered, unfiltered)
			maxTotal = max(maxTotal, unfiltered+filtered)
			mu.Unlock()
			time.Sleep(400 * time.Millisecond) // the server works on it
			mu.Lock()
			if isFiltered {
				filtered--
			} else {
				unfiltered--
			}
			mu.Unlock()
			next := ""
			if r.URL.Query().Get("cursor") == "" {
				q := r.URL.Query()
				q.Set("cursor", "2")
				next = "/v2/compensations?" + q.Encode()
			}
			writePage(w, []map[string]any{{"id": "c1"}}, next)
		})
		c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}})
		var g errgroup.Group
		for range 8 {
			g.Go(func() error {
				return c.ListCompensations(t.Context(), CompensationFilter{Window: novemberWindow}, func([]Compensation) error { return nil })
			})
		}
		for i := range 4 {
			g.Go(func() error {
				return c.ListCompensations(t.Context(), CompensationFilter{Window: novemberWindow, PersonIDs: []string{string(rune('1' + i))}},
					func([]Compensation) error { return nil })
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if maxUnfiltered > DefaultCompensationConcurrency {
			t.Errorf("%d unfiltered compensation requests in flight at once, want at most %d", maxUnfiltered, DefaultCompensationConcurrency)
		}
		if maxTotal <= DefaultCompensationConcurrency {
			t.Errorf("at most %d requests in flight: person.id-filtered requests were held back too", maxTotal)
		}
	})
}

// TestCompensationSlotsShared: two Clients given one semaphore (one credential) share its
// slots.
func TestCompensationSlotsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inFlight, maxInFlight := 0, 0
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			inFlight--
			mu.Unlock()
			writePage(w, []map[string]any{{"id": "c1"}}, "")
		})
		slots := semaphore.NewWeighted(DefaultCompensationConcurrency)
		var g errgroup.Group
		for range 2 {
			c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}, CompensationSlots: slots})
			for range 3 {
				g.Go(func() error {
					return c.ListCompensations(t.Context(), CompensationFilter{Window: novemberWindow}, func([]Compensation) error { return nil })
				})
			}
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if maxInFlight != 2 {
			t.Errorf("%d requests in flight at most over two clients of one credential, want 2", maxInFlight)
		}
	})
}

// TestConcurrencyLimitWaitsAsToldAndKeepsRate: a 429 with Retry-After: 30 and type
// compensations.too_many_requests is Personio's concurrency limit, not its rate limit: the
// client waits exactly 30 s and keeps its compensations rate. A plain 429 (no Retry-After)
// still halves it.
func TestConcurrencyLimitWaitsAsToldAndKeepsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			calls = append(calls, time.Now())
			if len(calls) == 1 {
				compensationProblem(w, http.StatusTooManyRequests, TypeCompensationsTooManyRequests, "30")
				return
			}
			writePage(w, []map[string]any{{"id": "c1"}}, "")
		})
		reg := prometheus.NewRegistry()
		c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}},
			RateLimit: Rate{PerMinute: 300, Burst: 15}, CompensationRateLimit: Rate{PerMinute: 300, Burst: 5},
			MinBackoff: time.Second, MaxBackoff: 30 * time.Second, Registerer: reg})
		if err := c.ListCompensations(t.Context(), CompensationFilter{Window: novemberWindow}, func([]Compensation) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 {
			t.Fatalf("%d calls, want 2", len(calls))
		}
		if d := calls[1].Sub(calls[0]); d != 30*time.Second {
			t.Errorf("retried after %v, want 30 s as told", d)
		}
		if _, comps := c.RateLimits(); comps != 5 {
			t.Errorf("compensations rate %v/s after a concurrency 429, want 5/s unchanged", comps)
		}
		if n := testutil.ToFloat64(c.metrics.errors.WithLabelValues(endpointListCompensations, "429", TypeCompensationsTooManyRequests)); n != 1 {
			t.Errorf("personio_cdc_api_errors_total{reason=%q} = %v, want 1", TypeCompensationsTooManyRequests, n)
		}
		if s := c.Stats(); s.RetryAfter != 1 || s.RateLimited != 0 {
			t.Errorf("Stats = %+v, want one Retry-After wait and no rate limiting", s)
		}
	})
}

// TestServiceUnavailableWaitsAsTold: a 503 compensations.service_unavailable with
// Retry-After: 30 is retried after exactly 30 s, and the wait ends with the context.
func TestServiceUnavailableWaitsAsTold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			calls = append(calls, time.Now())
			if len(calls) <= 2 {
				compensationProblem(w, http.StatusServiceUnavailable, TypeCompensationsUnavailable, "30")
				return
			}
			writePage(w, []map[string]any{{"id": "c1"}}, "")
		})
		c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}})
		if err := c.ListCompensations(t.Context(), CompensationFilter{Window: novemberWindow}, func([]Compensation) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 3 || calls[1].Sub(calls[0]) != 30*time.Second || calls[2].Sub(calls[1]) != 30*time.Second {
			t.Fatalf("calls at %v, want three, 30 s apart", calls)
		}

		// The wait honours the context: cancelled 5 s in, the call returns then.
		calls = nil
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := c.ListCompensations(ctx, CompensationFilter{Window: novemberWindow}, func([]Compensation) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Errorf("err = %v after %v, want the deadline after 5 s", err, time.Since(start))
		}
	})
}

// TestTooMuchDataIsNotRetried: a 422 compensations.unprocessable_content matches
// ErrTooMuchData, is sent once only, and its type reaches the errors metric.
func TestTooMuchDataIsNotRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		compensationProblem(w, http.StatusUnprocessableEntity, "https://developer.personio.de/reference/errors#"+TypeCompensationsUnprocessable, "")
	})
	reg := prometheus.NewRegistry()
	c, _ := f.start(Config{Registerer: reg})
	err := c.ListCompensations(t.Context(), CompensationFilter{Window: novemberWindow}, func([]Compensation) error { return nil })
	if !errors.Is(err, ErrTooMuchData) {
		t.Fatalf("err = %v, want ErrTooMuchData", err)
	}
	if n := f.apiCalls.Load(); n != 1 {
		t.Errorf("%d requests, want 1: the same request never succeeds", n)
	}
	if n := testutil.ToFloat64(c.metrics.errors.WithLabelValues(endpointListCompensations, "422", TypeCompensationsUnprocessable)); n != 1 {
		t.Errorf("errors metric = %v, want 1", n)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code() != TypeCompensationsUnprocessable {
		t.Errorf("Code() of %v = %q", err, ae.Code())
	}
}

func TestErrorCode(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"compensations.too_many_requests": "compensations.too_many_requests",
		"https://x.test/errors#common.bad_request": "common.bad_request",
		"https://x.test/errors/Common.Not_Found":   "common.not_found",
		"Person jane@example.com not found":        "other",
		strings.Repeat("a", 70):                    "other",
	} {
		if got := errorCode(in); got != want {
			t.Errorf("errorCode(%q) = %q, want %q", in, got, want)
		}
	}
}
