package personio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewValidatesConfig(t *testing.T) {
	ok := Config{ClientID: "id", ClientSecret: "secret"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr []string // substrings; empty = valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"explicit base URL with path", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/api/" }, nil},
		{"missing client id", func(c *Config) { c.ClientID = "" }, []string{"ClientID is required (PERSONIO_CLIENT_ID)"}},
		{"missing secret", func(c *Config) { c.ClientSecret = "" }, []string{"ClientSecret is required (PERSONIO_CLIENT_SECRET)"}},
		{"missing both", func(c *Config) { c.ClientID, c.ClientSecret = " ", "" }, []string{"PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET"}},
		{"relative URL", func(c *Config) { c.BaseURL = "api.personio.de" }, []string{"BaseURL must be an absolute http or https URL (PERSONIO_BASE_URL)"}},
		{"ftp URL", func(c *Config) { c.BaseURL = "ftp://api.personio.de" }, []string{"BaseURL must be an absolute http or https URL"}},
		{"no host", func(c *Config) { c.BaseURL = "https://" }, []string{"BaseURL must name a host"}},
		{"query", func(c *Config) { c.BaseURL = "https://api.personio.de?x=1" }, []string{"BaseURL must not contain a query"}},
		{"user info", func(c *Config) { c.BaseURL = "https://u:p@api.personio.de" }, []string{"BaseURL must not contain credentials"}},
		{"fragment", func(c *Config) { c.BaseURL = "https://api.personio.de#x" }, []string{"BaseURL must not contain a fragment"}},
		{"unparsable", func(c *Config) { c.BaseURL = "http://[::1" }, []string{"BaseURL is not a valid URL"}},
		{"negative rate", func(c *Config) { c.RateLimit.PerMinute = -1 }, []string{"RateLimit.PerMinute must be a positive number"}},
		{"negative burst", func(c *Config) { c.CompensationRateLimit.Burst = -1 }, []string{"CompensationRateLimit.Burst must be at least 1"}},
		{"header injection", func(c *Config) { c.AppID = "a\r\nX: y" }, []string{"AppID must not contain line breaks"}},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, []string{"MaxAttempts must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c == nil {
					t.Fatal("New returned nil client")
				}
				return
			}
			if err == nil {
				t.Fatal("New: want error, got nil")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "secret") && cfg.ClientSecret == "secret" {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.base.String(); got != DefaultBaseURL {
		t.Errorf("base URL = %q, want %q", got, DefaultBaseURL)
	}
	p, comp := c.RateLimits()
	if p != 5 || comp != 5 {
		t.Errorf("rate limits = %v, %v per second, want 5, 5", p, comp)
	}
	// One token of each burst is kept as headroom.
	if c.persons.Burst() != 14 || c.comps.Burst() != 4 {
		t.Errorf("bursts = %d, %d, want 14, 4", c.persons.Burst(), c.comps.Burst())
	}
	if c.tokens.cfg.TokenURL != "https://api.personio.de/v2/auth/token" {
		t.Errorf("token URL = %q", c.tokens.cfg.TokenURL)
	}
}

func TestPaging(t *testing.T) {
	// Each handler serves pages keyed by cursor; base is the server URL.
	tests := []struct {
		name    string
		next    func(base, cursor string) string // next href for page cursor ("" = first)
		pages   int
		want    []string
		wantErr error
	}{
		{
			name:  "absolute next",
			next:  func(base, c string) string { return base + "/v2/persons?cursor=c" + c + "x&limit=2" },
			pages: 3, want: []string{"1", "2", "3"},
		},
		{
			name:  "relative next with path",
			next:  func(_, c string) string { return "/v2/persons?cursor=c" + c + "x" },
			pages: 3, want: []string{"1", "2", "3"},
		},
		{
			name:  "relative next query only",
			next:  func(_, c string) string { return "?cursor=c" + c + "x" },
			pages: 2, want: []string{"1", "2"},
		},
		{
			name:  "relative next path without slash",
			next:  func(_, c string) string { return "persons?cursor=c" + c + "x" },
			pages: 2, want: []string{"1", "2"},
		},
		{
			name:  "foreign origin refused",
			next:  func(string, string) string { return "https://evil.example/v2/persons?cursor=x" },
			pages: 2, want: []string{"1"},
			wantErr: ErrForeignNextLink,
		},
		{
			name: "other port refused",
			next: func(base, _ string) string {
				u, _ := url.Parse(base)
				return "http://" + u.Hostname() + ":1/v2/persons?cursor=x"
			},
			pages: 2, want: []string{"1"},
			wantErr: ErrForeignNextLink,
		},
		{
			name: "other scheme refused",
			next: func(base, _ string) string {
				return strings.Replace(base, "http://", "https://", 1) + "/v2/persons?cursor=x"
			},
			pages: 2, want: []string{"1"},
			wantErr: ErrForeignNextLink,
		},
		{
			name:  "repeated cursor fails",
			next:  func(string, string) string { return "/v2/persons?cursor=same" },
			pages: 100, want: []string{"1", "2"},
			wantErr: ErrRepeatedCursor,
		},
		{
			name: "repeated cursor with other parameters fails",
			next: func(_, c string) string {
				return "/v2/persons?cursor=same&limit=" + fmt.Sprint(len(c)+1)
			},
			pages: 100, want: []string{"1", "2"},
			wantErr: ErrRepeatedCursor,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base string
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				cur := r.URL.Query().Get("cursor")
				n := 1
				if cur != "" {
					n = strings.Count(cur, "x") + 1
					if cur == "same" {
						n = 2
					}
				}
				if n > tt.pages {
					t.Errorf("page %d requested, only %d exist", n, tt.pages)
					http.NotFound(w, r)
					return
				}
				next := ""
				if n < tt.pages {
					next = tt.next(base, strings.Repeat("x", n-1))
				}
				writePage(w, persons(fmt.Sprint(n)), next)
			})
			c, srv := f.start(Config{})
			base = srv.URL
			ids, err := collectPersons(t, c, PersonFilter{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "evil") {
				t.Errorf("error %q quotes the link", err)
			}
		})
	}
}

func TestPagingEndsOnEmptyNext(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"_data":[{"id":"1"}],"_meta":{"links":{"self":{"href":"x"},"next":{"href":""}}}}`)
	})
	c, _ := f.start(Config{})
	ids, err := collectPersons(t, c, PersonFilter{})
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids = %v, err = %v; want one page", ids, err)
	}
	if f.apiCalls.Load() != 1 {
		t.Errorf("API calls = %d, want 1", f.apiCalls.Load())
	}
}

func TestCallbackErrorStopsListing(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writePage(w, persons("1"), "/v2/persons?cursor=next-"+r.URL.Query().Get("cursor"))
	})
	c, _ := f.start(Config{})
	stop := errors.New("stop")
	err := c.ListPersons(t.Context(), PersonFilter{}, func([]Person) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
	if f.apiCalls.Load() != 1 {
		t.Errorf("API calls = %d, want 1", f.apiCalls.Load())
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		retryable bool
		notFound  bool
		calls     int64 // API calls with MaxAttempts 3
	}{
		{400, `{"personio_trace_id":"t","errors":[{"title":"Bad Request","detail":"limit"}]}`, false, false, 1},
		{403, `{"errors":[{"title":"Forbidden"}]}`, false, false, 1},
		{404, ``, false, true, 1},
		{422, `not json`, false, false, 1},
		{500, `{}`, true, false, 3},
		{502, ``, true, false, 3},
		{503, `{"error":"down"}`, true, false, 3},
		{504, `<html>gateway</html>`, true, false, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			c, _ := f.start(Config{MaxAttempts: 3})
			_, err := collectPersons(t, c, PersonFilter{})
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if apiErr.Status != tt.status || apiErr.Endpoint != "GET /v2/persons" {
				t.Errorf("APIError = %+v", apiErr)
			}
			if !strings.Contains(err.Error(), http.StatusText(tt.status)) {
				t.Errorf("error %q does not name the status", err)
			}
			if apiErr.Retryable() != tt.retryable || Retryable(err) != tt.retryable {
				t.Errorf("Retryable = %v, want %v", apiErr.Retryable(), tt.retryable)
			}
			if errors.Is(err, ErrAuth) != (tt.status == 403) {
				t.Errorf("errors.Is(err, ErrAuth) = %v for %d", errors.Is(err, ErrAuth), tt.status)
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tt.notFound, tt.notFound)
			}
			if got := f.apiCalls.Load(); got != tt.calls {
				t.Errorf("API calls = %d, want %d", got, tt.calls)
			}
		})
	}
}

func TestNewAPIError(t *testing.T) {
	tests := []struct {
		name string
		body string
		want APIError
	}{
		{
			name: "personio problem",
			body: `{"personio_trace_id":"abc","timestamp":"2021-05-28T11:17:30.000Z","errors":[{"title":"Invalid filter","detail":"bad status","type":"https://x/type#common.bad"}]}`,
			want: APIError{Status: 400, TraceID: "abc", Type: "https://x/type#common.bad", Endpoint: "E"},
		},
		{
			name: "rfc 7807",
			body: `{"type":"about:blank","title":"Bad","detail":"why","trace_id":"t2"}`,
			want: APIError{Status: 400, TraceID: "t2", Type: "about:blank", Endpoint: "E"},
		},
		{
			name: "error object",
			body: `{"success":false,"error":{"code":0,"message":"Nope","type":"v1.error"}}`,
			want: APIError{Status: 400, Type: "v1.error", Endpoint: "E"},
		},
		{
			name: "error string",
			body: `{"error":"invalid_request"}`,
			want: APIError{Status: 400, Type: "invalid_request", Endpoint: "E"},
		},
		{
			name: "errors with message",
			body: `{"errors":[{"message":"m"}],"personio_trace_id":"x"}`,
			want: APIError{Status: 400, TraceID: "x", Endpoint: "E"},
		},
		{
			name: "oauth2 error",
			body: `{"error":"invalid_client","error_description":"Client authentication failed."}`,
			want: APIError{Status: 400, Type: "invalid_client", Endpoint: "E"},
		},
		{
			name: "not json",
			body: `<html>oops</html>`,
			want: APIError{Status: 400, Endpoint: "E"},
		},
		{
			name: "empty",
			want: APIError{Status: 400, Endpoint: "E"},
		},
		{
			name: "free text in the codes is dropped",
			body: `{"personio_trace_id":"trace of jane.doe@example.com","errors":[{"title":"Invalid","type":"person jane.doe@example.com"}]}`,
			want: APIError{Status: 400, Endpoint: "E"},
		},
		{
			name: "an e-mail address is no code",
			body: `{"error":"jane.doe@example.com"}`,
			want: APIError{Status: 400, Endpoint: "E"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newAPIError("E", 400, []byte(tt.body))
			if *got != tt.want {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
			if msg := got.Error(); !strings.HasPrefix(msg, "personio: E: 400 Bad Request") {
				t.Errorf("Error() = %q", msg)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		failures   int // requests that fail before success
		fail       func(w http.ResponseWriter)
		wantReason string
	}{
		{"500 then success", 2, func(w http.ResponseWriter) { problemJSON(w, 500, "Internal") }, reasonServerError},
		{"503 then success", 1, func(w http.ResponseWriter) { problemJSON(w, 503, "Unavailable") }, reasonServerError},
		{"504 then success", 1, func(w http.ResponseWriter) { problemJSON(w, 504, "Gateway Timeout") }, reasonTimeout},
		{"malformed body then success", 2, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"_data":[{"id":"1"`)
		}, reasonMalformed},
		{"truncated body then success", 1, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			fmt.Fprint(w, `{"_data":[`)
		}, reasonMalformed},
		{"connection reset then success", 1, func(w http.ResponseWriter) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, reasonConnection},
		{"429 then success", 3, func(w http.ResponseWriter) { problemJSON(w, 429, "Too Many Requests") }, reasonRateLimited},
		{"page without _data then success", 1, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"_meta":{"links":{}}}`)
		}, reasonMalformed},
		{"null body then success", 2, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `null`)
		}, reasonMalformed},
		{"timeout then success", 1, func(w http.ResponseWriter) {
			// Hold the reply until the client gives up (its timeout closes the connection).
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				conn.Read(make([]byte, 1)) // returns when the client closes
				conn.Close()
			}
		}, reasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) <= int64(tt.failures) {
					tt.fail(w)
					return
				}
				writePage(w, persons("1"), "")
			})
			// Without keep-alive the transport never repeats a request by itself, so every
			// retry is the client's own.
			hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 500 * time.Millisecond}
			c, _ := f.start(Config{Registerer: prometheus.NewPedanticRegistry(), HTTPClient: hc})
			ids, err := collectPersons(t, c, PersonFilter{})
			if err != nil {
				t.Fatalf("ListPersons: %v", err)
			}
			if len(ids) != 1 {
				t.Errorf("ids = %v", ids)
			}
			if got := n.Load(); got != int64(tt.failures)+1 {
				t.Errorf("requests = %d, want %d", got, tt.failures+1)
			}
			if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("GET /v2/persons", tt.wantReason)); got != float64(tt.failures) {
				t.Errorf("retries{reason=%s} = %v, want %d", tt.wantReason, got, tt.failures)
			}
			if s := c.Stats(); s.Retries != int64(tt.failures) || s.Requests != int64(tt.failures)+1 || s.Pages != 1 {
				t.Errorf("Stats = %+v", s)
			}
		})
	}
}

func TestRetriesBounded(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { problemJSON(w, 502, "Bad Gateway") })
	c, _ := f.start(Config{MaxAttempts: 4})
	_, err := collectPersons(t, c, PersonFilter{})
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Fatalf("err = %v, want giving up after 4 attempts", err)
	}
	if f.apiCalls.Load() != 4 {
		t.Errorf("API calls = %d, want 4", f.apiCalls.Load())
	}
	if !Retryable(err) {
		t.Error("the final error should still say it is retryable (a later run may succeed)")
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { problemJSON(w, 429, "Too Many Requests") })
	c, _ := f.start(Config{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int64
	c.hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 5 {
			cancel()
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	err := c.ListPersons(ctx, PersonFilter{}, func([]Person) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	t.Run("refresh succeeds", func(t *testing.T) {
		var f *fakeAPI
		f = newFake(t, func(w http.ResponseWriter, r *http.Request) {
			writePage(w, persons("1"), "")
		})
		c, _ := f.start(Config{})
		if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
			t.Fatal(err)
		}
		f.revoke() // the cached token is now rejected
		if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
			t.Fatalf("after revocation: %v", err)
		}
		if got := f.tokenCalls.Load(); got != 2 {
			t.Errorf("token requests = %d, want 2", got)
		}
		if got := f.apiCalls.Load(); got != 3 {
			t.Errorf("API calls = %d, want 3", got)
		}
		if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("GET /v2/persons", reasonUnauthorized)); got != 1 {
			t.Errorf("unauthorized retries = %v, want 1", got)
		}
	})
	t.Run("second 401 is an auth error", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			problemJSON(w, http.StatusUnauthorized, "Unauthorized")
		})
		c, _ := f.start(Config{})
		_, err := collectPersons(t, c, PersonFilter{})
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("err = %v, want ErrAuth", err)
		}
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Status != 401 || Retryable(err) {
			t.Errorf("AuthError = %+v, retryable %v", ae, Retryable(err))
		}
		if !strings.Contains(err.Error(), "credential revoked or missing scope") {
			t.Errorf("err = %q", err)
		}
		if got := f.tokenCalls.Load(); got != 2 {
			t.Errorf("token requests = %d, want 2", got)
		}
		if got := f.apiCalls.Load(); got != 2 {
			t.Errorf("API calls = %d, want 2", got)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     func(n int64) int
		secret     string
		wantAuth   bool
		wantTokens int64
	}{
		{"wrong secret is an auth error", nil, "wrong", true, 1},
		{"401 is an auth error", func(int64) int { return 401 }, "s3cr3t", true, 1},
		{"400 is an auth error", func(int64) int { return 400 }, "s3cr3t", true, 1},
		{"429 is retried", func(n int64) int { return map[bool]int{true: 429}[n == 1] }, "s3cr3t", false, 2},
		{"503 is retried", func(n int64) int { return map[bool]int{true: 503}[n <= 2] }, "s3cr3t", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
			f.tokenStatus = tt.status
			c, _ := f.start(Config{ClientID: "id", ClientSecret: tt.secret})
			_, err := collectPersons(t, c, PersonFilter{})
			if tt.wantAuth {
				var ae *AuthError
				if !errors.As(err, &ae) || ae.Endpoint != "POST /v2/auth/token" || Retryable(err) {
					t.Fatalf("err = %v, want a non-retryable token AuthError", err)
				}
				if strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error %q leaks the secret", err)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := f.tokenCalls.Load(); got != tt.wantTokens {
				t.Errorf("token requests = %d, want %d", got, tt.wantTokens)
			}
		})
	}
}

func TestAppHeaders(t *testing.T) {
	var tokenHdr, apiHdr http.Header
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		apiHdr = r.Header.Clone()
		writePage(w, persons("1"), "")
	})
	inner := f.ServeHTTP
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/auth/token" {
			tokenHdr = r.Header.Clone()
		}
		inner(w, r)
	})
	c := f.client(Config{BaseURL: "http://personio.test", AppID: "app-1", PartnerID: "partner-1",
		HTTPClient: &http.Client{Transport: handlerTransport{h}}})
	if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Header{"token": tokenHdr, "api": apiHdr} {
		if h.Get("X-Personio-App-ID") != "app-1" || h.Get("X-Personio-Partner-ID") != "partner-1" {
			t.Errorf("%s request headers = %v", name, h)
		}
	}
	if apiHdr.Get("Authorization") != "Bearer tok-1" {
		t.Errorf("Authorization = %q", apiHdr.Get("Authorization"))
	}
}

func TestErrorsCarryNoSecrets(t *testing.T) {
	email := "jane.doe@example.com"
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"errors":[{"title":"Bad filter","detail":"unknown email %s"}]}`, r.URL.Query().Get("email"))
	})
	c, srv := f.start(Config{})
	_, err := collectPersons(t, c, PersonFilter{Emails: []string{email}, FirstName: "Jane"})
	if err == nil {
		t.Fatal("want error")
	}
	for _, leak := range []string{email, "Jane", "tok-1", "s3cr3t"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q contains %q", err, leak)
		}
	}
	srv.Close() // now a transport error, whose *url.Error would quote the URL
	_, err = collectPersons(t, c, PersonFilter{Emails: []string{email}})
	if err == nil || strings.Contains(err.Error(), "jane") || strings.Contains(err.Error(), "email=") {
		t.Errorf("transport error %q quotes the query", err)
	}
}

func TestGet(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.EscapedPath() {
		case "/v2/persons/1":
			fmt.Fprint(w, `{"id":"1","first_name":"A","status":"ACTIVE"}`)
		case "/v2/persons/2":
			fmt.Fprint(w, `{"_data":{"id":"2"}}`)
		case "/v2/persons/1/employments/e%201":
			fmt.Fprint(w, `{"id":"e 1","person":{"id":"1"},"weekly_working_hours":"40.5"}`)
		default:
			problemJSON(w, 404, "Not Found")
		}
	})
	c, _ := f.start(Config{})
	ctx := t.Context()
	p, err := c.GetPerson(ctx, "1")
	if err != nil || p.ID != "1" || p.FirstName != "A" {
		t.Errorf("GetPerson(1) = %+v, %v", p, err)
	}
	p, err = c.GetPerson(ctx, "2")
	if err != nil || p.ID != "2" {
		t.Errorf("GetPerson(2) = %+v, %v", p, err)
	}
	_, err = c.GetPerson(ctx, "3")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("GetPerson(3) err = %v, want ErrNotFound", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Endpoint != "GET /v2/persons/{id}" || apiErr.TraceID != "trace-1" {
		t.Errorf("APIError = %+v", apiErr)
	}
	e, err := c.GetEmployment(ctx, "1", "e 1")
	if err != nil || e.ID != "e 1" || e.WeeklyWorkingHours == nil || *e.WeeklyWorkingHours != "40.5" {
		t.Errorf("GetEmployment = %+v, %v", e, err)
	}
	_, err = c.GetEmployment(ctx, "1", "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("GetEmployment(nope) err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"", " ", "a/b", "..", "x?y"} {
		if _, err := c.GetPerson(ctx, id); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("GetPerson(%q) err = %v, want ErrInvalidArgument", id, err)
		}
	}
}

func TestMetricsAndStats(t *testing.T) {
	var n atomic.Int64
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			problemJSON(w, 429, "Too Many Requests")
			return
		}
		writePage(w, persons("1"), "")
	})
	reg := prometheus.NewPedanticRegistry()
	c, _ := f.start(Config{Registerer: reg})
	if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		c    prometheus.Collector
		want float64
	}{
		{c.metrics.requests.WithLabelValues("GET /v2/persons", "200"), 1},
		{c.metrics.requests.WithLabelValues("GET /v2/persons", "429"), 1},
		{c.metrics.retries.WithLabelValues("GET /v2/persons", "rate_limited"), 1},
		{c.metrics.requests.WithLabelValues("POST /v2/auth/token", "200"), 1},
	}
	for i, ck := range checks {
		if got := testutil.ToFloat64(ck.c); got != ck.want {
			t.Errorf("check %d = %v, want %v", i, got, ck.want)
		}
	}
	if got := testutil.ToFloat64(c.metrics.limiterRate.WithLabelValues("default")); got <= 0 || got >= 10000 {
		t.Errorf("rate gauge after a 429 = %v, want below the configured 10000/s", got)
	}
	if got := testutil.ToFloat64(c.metrics.limiterRate.WithLabelValues("compensations")); got != 10000 {
		t.Errorf("compensations rate gauge = %v, want 10000", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{
		"personio_cdc_api_requests_total", "personio_cdc_api_request_duration_seconds",
		"personio_cdc_api_retries_total", "personio_cdc_api_rate_limit_wait_seconds_total",
		"personio_cdc_api_rate_limit_per_second",
	} {
		if !got[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
	s := c.Stats()
	if s.Requests != 2 || s.RateLimited != 1 || s.Retries != 1 || s.Pages != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestTokenRefusalIsRemembered: concurrent callers refused by the token endpoint share one
// token request, and the refusal is forgotten after refusalMemory, so a credential fixed at
// Personio works again without a restart.
func TestTokenRefusalIsRemembered(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writePage(w, persons("1"), "") })
	f.tokenStatus = func(n int64) int { return map[bool]int{true: http.StatusUnauthorized}[n == 1] }
	c, _ := f.start(Config{})
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	c.tokens.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	const callers = 23
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			_, err := collectPersons(t, c, PersonFilter{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrAuth) || Retryable(err) {
			t.Fatalf("err = %v, want a non-retryable ErrAuth", err)
		}
		if !strings.Contains(err.Error(), "PERSONIO_CLIENT_SECRET") {
			t.Errorf("err = %q does not name the setting", err)
		}
	}
	if got := f.tokenCalls.Load(); got > 2 {
		t.Errorf("%d concurrent callers sent %d token requests, want at most 2", callers, got)
	}
	if got := f.apiCalls.Load(); got != 0 {
		t.Errorf("API calls without a token: %d", got)
	}

	// Within the memory the refusal is repeated without asking; after it, the next call asks.
	before := f.tokenCalls.Load()
	if _, err := collectPersons(t, c, PersonFilter{}); !errors.Is(err, ErrAuth) || f.tokenCalls.Load() != before {
		t.Errorf("within the memory: err %v, token requests %d → %d", err, before, f.tokenCalls.Load())
	}
	mu.Lock()
	now = now.Add(refusalMemory + time.Second)
	mu.Unlock()
	if _, err := collectPersons(t, c, PersonFilter{}); err != nil {
		t.Errorf("after the memory: %v", err)
	}
	if got := f.tokenCalls.Load(); got != before+1 {
		t.Errorf("token requests after the memory = %d, want %d", got, before+1)
	}
}
