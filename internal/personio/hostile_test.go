package personio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sync/errgroup"
)

// These tests play a hostile or broken Personio: redirects to another host, error bodies that
// echo the secret or personal data, listings that never end, absurd token lifetimes and a
// token endpoint that fails every request.

// otherOrigin is a server on another origin that would happily answer anything: it counts the
// requests it receives and remembers the last form it was sent.
type otherOrigin struct {
	srv      *httptest.Server
	requests atomic.Int64
	secret   atomic.Value // client_secret of the last request, if any
}

func newOtherOrigin(t *testing.T) *otherOrigin {
	o := &otherOrigin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		if r.URL.Path == "/v2/auth/token" {
			o.secret.Store(r.FormValue("client_secret"))
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"evil-token","expires_in":86400,"token_type":"Bearer"}`)
			return
		}
		writePage(w, persons("evil-1", "evil-2"), "")
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// TestCrossOriginRedirectRefused: a redirect to another origin (scheme, host or port) is never
// followed, neither by the token request (a 307 would re-send the client secret there) nor by
// an API request (the other host's "persons" would be published). The request fails with a
// non-retryable *RedirectError naming the status, without the target's query.
func TestCrossOriginRedirectRefused(t *testing.T) {
	const query = "?leak=q-secret-value"
	tests := []struct {
		name     string
		path     string // the path answered with the redirect
		status   int
		endpoint string
	}{
		{"token 307", "/v2/auth/token", http.StatusTemporaryRedirect, "POST /v2/auth/token"},
		{"token 308", "/v2/auth/token", http.StatusPermanentRedirect, "POST /v2/auth/token"},
		{"token 302", "/v2/auth/token", http.StatusFound, "POST /v2/auth/token"},
		{"persons 302", "/v2/persons", http.StatusFound, "GET /v2/persons"},
		{"persons 301", "/v2/persons", http.StatusMovedPermanently, "GET /v2/persons"},
		{"persons 307", "/v2/persons", http.StatusTemporaryRedirect, "GET /v2/persons"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := newOtherOrigin(t)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
			var redirects atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == tt.path {
					redirects.Add(1)
					http.Redirect(w, r, other.srv.URL+r.URL.Path+query, tt.status)
					return
				}
				f.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			c := f.client(Config{BaseURL: srv.URL, MaxAttempts: 3})

			ids, err := collectPersons(t, c, PersonFilter{})
			if len(ids) != 0 {
				t.Errorf("persons delivered: %v", ids)
			}
			if got := other.requests.Load(); got != 0 {
				t.Errorf("the other origin received %d requests (secret sent: %v)", got, other.secret.Load() != nil)
			}
			var re *RedirectError
			if !errors.Is(err, ErrCrossOriginRedirect) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RedirectError matching ErrCrossOriginRedirect", err)
			}
			if re.Status != tt.status || re.Endpoint != tt.endpoint || Retryable(err) {
				t.Errorf("RedirectError = %+v, retryable %v", re, Retryable(err))
			}
			if got := redirects.Load(); got != 1 {
				t.Errorf("redirecting endpoint asked %d times, want once (not retried)", got)
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprint(tt.status), "redirect to another origin", tt.endpoint} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			for _, leak := range []string{"q-secret-value", "leak=", "s3cr3t"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q contains %q", msg, leak)
				}
			}
		})
	}
}

// TestCrossOriginRedirectAfterSameOrigin: a same-origin redirect is followed, but a chain that
// then leaves the origin is refused at that hop.
func TestCrossOriginRedirectAfterSameOrigin(t *testing.T) {
	other := newOtherOrigin(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/persons":
			http.Redirect(w, r, "/v2/persons-moved?"+r.URL.RawQuery, http.StatusFound)
		case "/v2/persons-moved":
			http.Redirect(w, r, other.srv.URL+"/v2/persons", http.StatusFound)
		}
	})
	c, _ := f.start(Config{})
	_, err := collectPersons(t, c, PersonFilter{})
	if !errors.Is(err, ErrCrossOriginRedirect) {
		t.Fatalf("err = %v, want ErrCrossOriginRedirect", err)
	}
	if got := other.requests.Load(); got != 0 {
		t.Errorf("the other origin received %d requests", got)
	}
}

// TestSameOriginRedirectFollowed pins the documented choice: a redirect within the API's own
// origin is followed, with the access token.
func TestSameOriginRedirectFollowed(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/persons":
			http.Redirect(w, r, "/v2/persons-moved?"+r.URL.RawQuery, http.StatusFound)
		case "/v2/persons-moved":
			writePage(w, persons("1", "2"), "")
		}
	})
	c, _ := f.start(Config{})
	ids, err := collectPersons(t, c, PersonFilter{})
	if err != nil || len(ids) != 2 {
		t.Fatalf("ids = %v, err = %v; want the two persons behind the redirect", ids, err)
	}
}

// TestTokenErrorsCarryNoFreeText: whatever the token endpoint writes into its error body (here
// the client secret and a sentence) never reaches the error; the error names the status and
// the OAuth2 error code.
func TestTokenErrorsCarryNoFreeText(t *testing.T) {
	const body = `{"error":"invalid_client","error_description":"client_secret s3cr3t is not valid",` +
		`"title":"bad secret s3cr3t","detail":"Free text here","message":"s3cr3t","trace_id":"trace-9"}`
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/auth/token" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					fmt.Fprint(w, body)
					return
				}
				f.ServeHTTP(w, r)
			})
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			c := f.client(Config{BaseURL: srv.URL, MaxAttempts: 2})
			_, err := collectPersons(t, c, PersonFilter{})
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprint(status), "invalid_client", "trace-9"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			for _, leak := range []string{"s3cr3t", "not valid", "Free text", "bad secret"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q contains %q", msg, leak)
				}
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an *APIError inside", err)
			}
			if s := fmt.Sprintf("%+v", *ae); strings.Contains(s, "s3cr3t") || strings.Contains(s, "Free text") {
				t.Errorf("APIError holds the body's free text: %s", s)
			}
		})
	}
}

// TestAPIErrorsCarryNoFreeText: an API error body's title and detail may quote personal data;
// the error keeps the status, Personio's error type and trace id only.
func TestAPIErrorsCarryNoFreeText(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"personio_trace_id":"abc-123","errors":[{"title":"Jane Roe cannot be listed",`+
			`"detail":"salary 4200 EUR of Jane Roe","type":"https://developer.personio.de/reference/errors#common.unprocessable"}]}`)
	})
	c, _ := f.start(Config{})
	_, err := collectPersons(t, c, PersonFilter{})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	msg := err.Error()
	for _, want := range []string{"GET /v2/persons", "422", "common.unprocessable", "abc-123"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	for _, leak := range []string{"Jane", "Roe", "4200", "salary"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q contains %q", msg, leak)
		}
	}
}

// TestErrorsRedactSecretAndToken: the last line of defence. Whatever path brings the client
// secret or the current access token into an error — here an error type code and a title
// that echo them, and a callback's own error — the returned error string does not hold them,
// while errors.Is and errors.As still see the error's kind.
func TestErrorsRedactSecretAndToken(t *testing.T) {
	for _, echo := range []string{"s3cr3t", "tok-1"} {
		t.Run(echo, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, `{"personio_trace_id":"t-%[1]s","errors":[{"title":"%[1]s","type":"%[1]s"}]}`, echo)
			})
			c, _ := f.start(Config{})
			_, err := c.GetPerson(t.Context(), "1")
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if strings.Contains(err.Error(), echo) {
				t.Errorf("error %q contains %q", err, echo)
			}
		})
	}
	t.Run("callback", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
		c, _ := f.start(Config{})
		cause := errors.New("handler saw s3cr3t and tok-1")
		err := c.ListPersons(t.Context(), PersonFilter{}, func([]Person) error { return cause })
		if !errors.Is(err, cause) {
			t.Fatalf("err = %v, want the callback's error", err)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "tok-1") {
			t.Errorf("error %q holds a credential", msg)
		}
	})
}

// pagedFake serves the persons listing page by page: page(i) gives the ids of the i-th page
// (1-based) and whether it has a next link, each with a fresh cursor.
func pagedFake(t *testing.T, page func(i int64) (ids []string, next bool)) (*fakeAPI, *Client) {
	var n atomic.Int64
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		ids, more := page(i)
		next := ""
		if more {
			next = fmt.Sprintf("/v2/persons?cursor=c%d&limit=50", i)
		}
		writePage(w, persons(ids...), next)
	})
	c, _ := f.start(Config{})
	return f, c
}

// pageIDs returns n ids for page i.
func pageIDs(i int64, n int) []string {
	ids := make([]string, n)
	for j := range ids {
		ids[j] = fmt.Sprintf("p%d-%d", i, j)
	}
	return ids
}

// TestEndlessEmptyPagesBrokenOff: a listing that keeps sending empty pages with fresh next
// links is broken off as incomplete, after a number of requests bounded by what it returned.
// The fakes end their listings after 1,000 pages, so that a client without a bound stops too.
func TestEndlessEmptyPagesBrokenOff(t *testing.T) {
	t.Run("from the start", func(t *testing.T) {
		f, c := pagedFake(t, func(i int64) ([]string, bool) { return nil, i < 1000 })
		ids, err := collectPersons(t, c, PersonFilter{})
		if !errors.Is(err, ErrListingBrokenOff) || Retryable(err) {
			t.Fatalf("ids %d, err = %v; want a non-retryable ErrListingBrokenOff", len(ids), err)
		}
		if got := f.apiCalls.Load(); got != maxEmptyPages {
			t.Errorf("API calls = %d, want %d", got, maxEmptyPages)
		}
	})
	t.Run("after real pages", func(t *testing.T) {
		f, c := pagedFake(t, func(i int64) ([]string, bool) {
			if i <= 5 {
				return pageIDs(i, 50), true
			}
			return nil, i < 1000
		})
		ids, err := collectPersons(t, c, PersonFilter{})
		if !errors.Is(err, ErrListingBrokenOff) {
			t.Fatalf("ids %d, err = %v; want ErrListingBrokenOff", len(ids), err)
		}
		if !strings.Contains(err.Error(), "250 items") {
			t.Errorf("err = %q, want it to say how much was listed", err)
		}
		if got := f.apiCalls.Load(); got != 5+maxEmptyPages {
			t.Errorf("API calls = %d, want %d", got, 5+maxEmptyPages)
		}
	})
	t.Run("a trickle", func(t *testing.T) {
		// One item on every other page (the client asks for 50): more pages than the items
		// can explain, though never many empty ones in a row.
		f, c := pagedFake(t, func(i int64) ([]string, bool) {
			if i%2 == 1 {
				return pageIDs(i, 1), i < 1000
			}
			return nil, i < 1000
		})
		_, err := collectPersons(t, c, PersonFilter{})
		if !errors.Is(err, ErrListingBrokenOff) {
			t.Fatalf("err = %v; want ErrListingBrokenOff", err)
		}
		if got := f.apiCalls.Load(); got > 2+maxEmptyPages {
			t.Errorf("API calls = %d, want at most %d", got, 2+maxEmptyPages)
		}
	})
	t.Run("short pages are fine", func(t *testing.T) {
		// 40 half-full pages, then maxEmptyPages-1 empty ones with a next link and an empty
		// last page: inside the bound.
		f, c := pagedFake(t, func(i int64) ([]string, bool) {
			if i <= 40 {
				return pageIDs(i, 25), true
			}
			return nil, i < 40+maxEmptyPages
		})
		ids, err := collectPersons(t, c, PersonFilter{})
		if err != nil || len(ids) != 40*25 {
			t.Fatalf("ids %d, err = %v; want 1000 persons", len(ids), err)
		}
		if got := f.apiCalls.Load(); got != 40+maxEmptyPages {
			t.Errorf("API calls = %d", got)
		}
	})
}

// TestAbsurdTokenLifetime: a token announced without a lifetime (expires_in absent or 0), or
// with a negative or tiny number of seconds, is kept for the minimum lifetime, so a burst of API calls does not send a
// token request each; the token is still refreshed after that minimum.
func TestAbsurdTokenLifetime(t *testing.T) {
	for _, ttl := range []int{-3600, -1, 0, 1, 5} {
		name := fmt.Sprint(ttl)
		if ttl == 0 {
			name = "absent"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":"1"}`)) })
				f.tokenTTL, f.tokenNoTTL = ttl, ttl == 0
				c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}})
				var g errgroup.Group
				for range 50 {
					g.Go(func() error { _, err := c.GetPerson(t.Context(), "1"); return err })
				}
				if err := g.Wait(); err != nil {
					t.Fatal(err)
				}
				if got := f.tokenCalls.Load(); got != 1 {
					t.Errorf("50 calls sent %d token requests, want 1", got)
				}
				// Ten minutes of one call a second: one token per minimum lifetime.
				for range 600 {
					time.Sleep(time.Second)
					if _, err := c.GetPerson(t.Context(), "1"); err != nil {
						t.Fatal(err)
					}
				}
				if got, most := f.tokenCalls.Load(), int64(1+10*time.Minute/(minTokenLifetime*9/10)+1); got > most || got < 10 {
					t.Errorf("10 minutes sent %d token requests, want 10 to %d", got, most)
				}
			})
		})
	}
}

// TestBrokenTokenEndpointPaced: a token endpoint that fails every request is not hammered:
// many callers together send token requests no faster than the token budget, however their
// own retries go.
func TestBrokenTokenEndpointPaced(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":"1"}`)) })
				f.tokenStatus = func(int64) int { return status }
				c := f.client(Config{BaseURL: "http://personio.test", HTTPClient: &http.Client{Transport: handlerTransport{f}}, MaxAttempts: 8})
				start := time.Now()
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
				defer cancel()
				var g errgroup.Group
				for range 20 {
					g.Go(func() error { _, _ = c.GetPerson(ctx, "1"); return nil })
				}
				_ = g.Wait()
				elapsed := time.Since(start)
				most := int64(tokenRateLimit.Burst) + int64(elapsed.Seconds()*tokenRateLimit.PerMinute/60) + 1
				if got := f.tokenCalls.Load(); got > most {
					t.Errorf("%d token requests in %v, want at most %d", got, elapsed, most)
				}
				if got := f.apiCalls.Load(); got != 0 {
					t.Errorf("API calls without a token: %d", got)
				}
			})
		})
	}
}

// TestTokenResponseNotUnderstood: a 200 from the token endpoint that is no token response
// (here an expires_in that quotes a name) is retried as a malformed body, and the error says
// so without quoting the response.
func TestTokenResponseNotUnderstood(t *testing.T) {
	for name, body := range map[string]string{
		"bad expires_in": `{"access_token":"x","expires_in":"Jane Roe"}`,
		"no token":       `{"token_type":"Bearer","note":"Jane Roe"}`,
		"not json":       `Jane Roe`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
			var tokens atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/auth/token" {
					tokens.Add(1)
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, body)
					return
				}
				f.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			c := f.client(Config{BaseURL: srv.URL, MaxAttempts: 2})
			_, err := collectPersons(t, c, PersonFilter{})
			if !errors.Is(err, ErrMalformedBody) || !Retryable(err) {
				t.Fatalf("err = %v, want a retryable ErrMalformedBody", err)
			}
			if strings.Contains(err.Error(), "Jane") {
				t.Errorf("error %q quotes the response", err)
			}
			if got := tokens.Load(); got != 2 {
				t.Errorf("token requests = %d, want 2 (MaxAttempts)", got)
			}
		})
	}
}
