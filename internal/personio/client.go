package personio

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/semaphore"
)

// Defaults of Config.
const (
	DefaultBaseURL     = "https://api.personio.de"
	DefaultMaxAttempts = 8
	DefaultMinBackoff  = 250 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	// DefaultCompensationConcurrency is how many compensation requests without a person.id
	// filter a credential has in flight at most: Personio rejects a third one per company
	// (429 compensations.too_many_requests, Retry-After: 30) since 2026-11-04.
	DefaultCompensationConcurrency = 2
	defaultHTTPTimeout             = 60 * time.Second
	maxBodyBytes                   = 64 << 20
)

var (
	// DefaultRateLimit is Personio's documented budget: 300 requests per minute, bursts of 15.
	DefaultRateLimit = Rate{PerMinute: 300, Burst: 15}
	// DefaultCompensationRateLimit is the stricter compensations budget: 5 per second, bursts of 5.
	DefaultCompensationRateLimit = Rate{PerMinute: 300, Burst: 5}
)

// Config configures a Client. ClientID and ClientSecret are required; everything else has a
// default.
type Config struct {
	// BaseURL is the API origin, e.g. https://api.personio.de (PERSONIO_BASE_URL).
	BaseURL string
	// ClientID and ClientSecret are the API credential (PERSONIO_CLIENT_ID,
	// PERSONIO_CLIENT_SECRET).
	ClientID, ClientSecret string
	// AppID and PartnerID, when set, are sent as X-Personio-App-ID and X-Personio-Partner-ID.
	AppID, PartnerID string
	// HTTPClient sends the requests; its Timeout bounds each request. Default: a client with a
	// 60 s timeout. The client uses copies of it whose CheckRedirect follows redirects within
	// the origin of BaseURL only (any CheckRedirect of its own is replaced).
	HTTPClient *http.Client
	// RateLimit is the budget for persons and employments; CompensationRateLimit the separate
	// budget for compensations. Zero fields take the defaults.
	RateLimit, CompensationRateLimit Rate
	// MaxAttempts bounds the attempts of a request that fails with a retryable error other than
	// 429 (a 429 is retried until the context ends). Default 8.
	MaxAttempts int
	// MinBackoff and MaxBackoff shape the exponential backoff with full jitter between
	// attempts. Defaults 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// CompensationSlots bounds the compensation requests without a person.id filter in flight
	// at once. Personio allows 2 per company: build one semaphore per credential
	// (semaphore.NewWeighted(DefaultCompensationConcurrency)) and give it to every Client of
	// that credential. Nil: New builds one of DefaultCompensationConcurrency slots for this
	// Client alone.
	CompensationSlots *semaphore.Weighted
	// Registerer, when set, receives the personio_cdc_api_* metrics.
	Registerer prometheus.Registerer
	// Logger receives debug records about retries. Default: discard.
	Logger *slog.Logger
}

// Client reads the Personio API v2. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	tokens    *tokenCache
	appID     string
	partnerID string
	persons   *adaptiveLimiter // persons and employments
	comps     *adaptiveLimiter // compensations
	compSlots *semaphore.Weighted
	metrics   *metrics
	stats     stats
	log       *slog.Logger

	maxAttempts            int
	minBackoff, maxBackoff time.Duration
}

// New validates cfg and returns a Client. Every invalid setting is reported, each error naming
// its setting (errors.As finds a *ConfigError).
func New(cfg Config) (*Client, error) {
	var errs []error
	bad := func(field, env, reason string) {
		errs = append(errs, &ConfigError{Field: field, Env: env, Reason: reason})
	}

	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		bad("BaseURL", "PERSONIO_BASE_URL", err.Error())
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		bad("ClientID", "PERSONIO_CLIENT_ID", "is required")
	}
	if cfg.ClientSecret == "" {
		bad("ClientSecret", "PERSONIO_CLIENT_SECRET", "is required")
	}
	for _, h := range []struct{ field, v string }{{"AppID", cfg.AppID}, {"PartnerID", cfg.PartnerID}} {
		if strings.ContainsAny(h.v, "\r\n") {
			bad(h.field, "", "must not contain line breaks")
		}
	}
	cfg.RateLimit = withDefaults(cfg.RateLimit, DefaultRateLimit)
	cfg.CompensationRateLimit = withDefaults(cfg.CompensationRateLimit, DefaultCompensationRateLimit)
	for _, r := range []struct {
		field string
		r     Rate
	}{{"RateLimit", cfg.RateLimit}, {"CompensationRateLimit", cfg.CompensationRateLimit}} {
		if math.IsNaN(r.r.PerMinute) || math.IsInf(r.r.PerMinute, 0) || r.r.PerMinute < 0 {
			bad(r.field+".PerMinute", "", "must be a positive number")
		}
		if r.r.Burst < 0 {
			bad(r.field+".Burst", "", "must be at least 1")
		}
	}
	if cfg.MaxAttempts < 0 {
		bad("MaxAttempts", "", "must not be negative")
	}
	if cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		bad("MinBackoff/MaxBackoff", "", "must not be negative")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	hc := &http.Client{Timeout: defaultHTTPTimeout}
	if cfg.HTTPClient != nil {
		own := *cfg.HTTPClient
		hc = &own
	}
	hc.CheckRedirect = sameOriginRedirects(base, "")
	c := &Client{
		base:        base,
		hc:          hc,
		appID:       cfg.AppID,
		partnerID:   cfg.PartnerID,
		metrics:     newMetrics(cfg.Registerer),
		log:         cfg.Logger,
		maxAttempts: orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		minBackoff:  orDefault(cfg.MinBackoff, DefaultMinBackoff),
		maxBackoff:  orDefault(cfg.MaxBackoff, DefaultMaxBackoff),
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = c.minBackoff
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.persons = newAdaptiveLimiter(cfg.RateLimit, c.metrics.limiterRate.WithLabelValues(budgetDefault).Set)
	c.comps = newAdaptiveLimiter(cfg.CompensationRateLimit, c.metrics.limiterRate.WithLabelValues(budgetCompensations).Set)
	c.compSlots = cfg.CompensationSlots
	if c.compSlots == nil {
		c.compSlots = semaphore.NewWeighted(DefaultCompensationConcurrency)
	}

	tokenHC := *hc
	tokenHC.Transport = &tokenTransport{next: hc.Transport, appID: c.appID, partnerID: c.partnerID, metrics: c.metrics}
	tokenHC.CheckRedirect = sameOriginRedirects(base, tokenEndpoint)
	c.tokens = newTokenCache(clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     base.JoinPath("v2", "auth", "token").String(),
		AuthStyle:    oauth2.AuthStyleInParams,
	}, &tokenHC)
	return c, nil
}

// maxRedirects bounds a chain of redirects within the origin, as net/http's default policy.
const maxRedirects = 10

// sameOriginRedirects is the redirect policy of every request: a redirect within the origin of
// base is followed (net/http keeps the request's headers and, for 307 and 308, its body); one
// to another origin is refused with a *RedirectError, before anything is sent there. endpoint
// names the request in the error; "" leaves it to the caller.
func sameOriginRedirects(base *url.URL, endpoint string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(base, req.URL) {
			e := &RedirectError{Endpoint: endpoint, Target: origin(req.URL)}
			if req.Response != nil {
				e.Status = req.Response.StatusCode
			}
			return e
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
}

// scrub is the last line of defence against a credential in an error message: every error a
// public method returns passes through it. It cuts the client secret and the access token
// fetched last out of the message, keeping the error underneath for errors.Is and errors.As.
// The error types of this package hold no free text of a response; this catches what a
// server may still echo into a field that looks like a code, and a callback's own error.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := msg
	for _, secret := range []string{c.tokens.cfg.ClientSecret, c.tokens.lastAccessToken()} {
		if secret == "" {
			continue
		}
		out = strings.ReplaceAll(out, secret, "[redacted]")
		if esc := url.QueryEscape(secret); esc != secret {
			out = strings.ReplaceAll(out, esc, "[redacted]")
		}
	}
	if out == msg {
		return err
	}
	return &redactedError{msg: out, err: err}
}

// Stats returns the client's cumulative counters.
func (c *Client) Stats() Stats { return c.stats.snapshot() }

// RateLimits returns the request rates (per second) the adaptive limiters currently allow for
// the default and the compensations budget.
func (c *Client) RateLimits() (persons, compensations float64) {
	return c.persons.Limit(), c.comps.Limit()
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func withDefaults(r, def Rate) Rate {
	if r.PerMinute == 0 {
		r.PerMinute = def.PerMinute
	}
	if r.Burst == 0 {
		r.Burst = def.Burst
	}
	return r
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must be an absolute http or https URL")
	case u.Host == "":
		return nil, errors.New("must name a host")
	case u.User != nil:
		return nil, errors.New("must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("must not contain a query")
	case u.Fragment != "":
		return nil, errors.New("must not contain a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// tokenTransport sends token requests: it adds the optional Personio app and partner headers
// and records the requests in the metrics.
type tokenTransport struct {
	next             http.RoundTripper
	appID, partnerID string
	metrics          *metrics
}

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.appID != "" || t.partnerID != "" {
		r = r.Clone(r.Context())
		setAppHeaders(r.Header, t.appID, t.partnerID)
	}
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	start := time.Now()
	resp, err := next.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.metrics.observeRequest(tokenEndpoint, status, time.Since(start))
	return resp, err
}

func setAppHeaders(h http.Header, appID, partnerID string) {
	if appID != "" {
		h.Set("X-Personio-App-ID", appID)
	}
	if partnerID != "" {
		h.Set("X-Personio-Partner-ID", partnerID)
	}
}

// get sends GET u under the budget lim and hands the body of a 2xx response that is valid
// JSON to decode; a retryable error from decode (a body of the wrong shape) repeats the
// request. endpoint is the route template used in errors, logs and metrics. It retries 429
// until ctx ends, other retryable failures up to MaxAttempts, and a 401 once with a fresh
// token. A compensation request without a person.id filter holds one of the credential's
// compensation slots while it is in flight (not while it waits to retry). A reply with a
// Retry-After is retried after exactly that long; a 429 with one (the concurrency limit) does
// not lower the rate, a 429 without one (the rate limit) does.
func (c *Client) get(ctx context.Context, endpoint string, lim *adaptiveLimiter, u *url.URL, decode func([]byte) error) error {
	return c.call(ctx, endpoint, lim, http.MethodGet, u, nil, decode)
}

// call is get for any method: body (JSON, nil for none) is sent with every attempt, and a nil
// decode accepts a 2xx without a body (DELETE's 204). The retries are get's: a write that
// timed out may have been applied, so only idempotent requests or ones whose repetition the
// server refuses (a second webhook for a URL is 409) belong here.
func (c *Client) call(ctx context.Context, endpoint string, lim *adaptiveLimiter, method string, u *url.URL, body []byte, decode func([]byte) error) error {
	budget := budgetDefault
	if lim == c.comps {
		budget = budgetCompensations
	}
	var (
		failures    int // retryable failures other than 429
		throttles   int // consecutive 429s
		authRetried bool
		slots       *semaphore.Weighted
	)
	if endpoint == endpointListCompensations && u.Query().Get("person.id") == "" {
		slots = c.compSlots
	}
	for {
		var (
			hdr    http.Header
			status int
			tok    *oauth2.Token
		)
		// Hold a valid access token before taking from the budget: fetching one takes a round
		// trip, during which a request already counted here would not yet be counted by the
		// server, whose bucket meanwhile stays full and loses the refill. A failed fetch is
		// handled below like any failed attempt, without spending budget.
		_, err := c.tokens.Token(ctx)
		if err == nil && slots != nil {
			// The slot before the budget: a token taken from the budget and then held while
			// waiting for a slot would reach the server late, bunched with others.
			if err := c.acquireSlot(ctx, slots); err != nil {
				return err
			}
		}
		if err == nil {
			waited, werr := lim.Wait(ctx)
			c.stats.limiterWait.Add(int64(waited))
			c.metrics.limiterWait.WithLabelValues(budget).Add(waited.Seconds())
			if werr != nil {
				if slots != nil {
					slots.Release(1)
				}
				return waitError(ctx, endpoint, werr)
			}
		}

		if err == nil {
			hdr, status, tok, err = c.attempt(ctx, endpoint, method, u, body, decode)
			if slots != nil {
				slots.Release(1) // before any wait to retry
			}
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && status != 0 {
			c.metrics.observeError(apiErr)
		}
		var delay time.Duration
		reason := ""
		told := retryAfter(hdr)
		switch {
		case err == nil:
			lim.Success(hdr)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case status == http.StatusTooManyRequests && told > 0:
			// Not the rate limit (whose 429 has no Retry-After) but, e.g., too many
			// compensation requests in flight: the rate stays, the wait is as told.
			lim.Success(hdr)
			reason, delay = c.retryAsTold(told)
		case status == http.StatusTooManyRequests:
			lim.Throttled(hdr)
			c.stats.rateLimited.Add(1)
			throttles++
			reason = reasonRateLimited
			delay = max(c.backoff(throttles), retryAfter(hdr))
		case status == http.StatusUnauthorized && tok != nil:
			lim.Success(hdr)
			if authRetried {
				return &AuthError{Endpoint: endpoint, Status: status, Reason: "credential revoked or missing scope", Err: err}
			}
			authRetried = true
			c.tokens.Invalidate(ctx, tok)
			reason = reasonUnauthorized
		case isTooManyRequests(err):
			// The token endpoint's own budget is exhausted: wait, without touching the API
			// budget; like any 429 this never fails the call.
			throttles++
			reason = reasonRateLimited
			delay = c.backoff(throttles)
		default:
			if status != 0 {
				lim.Success(hdr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !Retryable(err) {
				return err
			}
			failures++
			if failures >= c.maxAttempts {
				return fmt.Errorf("giving up after %d attempts: %w", failures, err)
			}
			reason = retryReason(err)
			delay = c.backoff(failures)
			if told > 0 {
				// e.g. 503 compensations.service_unavailable, Retry-After: 30.
				reason, delay = c.retryAsTold(told)
			}
			throttles = 0
		}
		c.stats.retries.Add(1)
		c.metrics.retries.WithLabelValues(endpoint, reason).Inc()
		errType := ""
		if apiErr != nil {
			errType = apiErr.Code()
		}
		c.log.DebugContext(ctx, "personio request retried", "endpoint", endpoint, "reason", reason, "status", status, "error_type", errType, "delay", delay)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// retryAsTold counts a retry after a server's Retry-After and gives its reason and delay
// (exactly the told wait).
func (c *Client) retryAsTold(told time.Duration) (reason string, delay time.Duration) {
	c.stats.retryAfter.Add(1)
	return reasonRetryAfter, told
}

// acquireSlot takes one of slots, counting the wait.
func (c *Client) acquireSlot(ctx context.Context, slots *semaphore.Weighted) error {
	start := time.Now()
	if err := slots.Acquire(ctx, 1); err != nil {
		return err
	}
	c.metrics.slotsWait.Add(time.Since(start).Seconds())
	return nil
}

// attempt sends one request and decodes a 2xx JSON response. It returns the headers of the
// response and the error, if any; status is 0 when no response arrived, tok the token sent.
func (c *Client) attempt(ctx context.Context, endpoint, method string, u *url.URL, reqBody []byte, decode func([]byte) error) (hdr http.Header, status int, tok *oauth2.Token, err error) {
	tok, err = c.tokens.Token(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	var rd io.Reader
	if reqBody != nil {
		rd = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, 0, tok, fmt.Errorf("%s: build request: %w", endpoint, err)
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "personio-cdc")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	setAppHeaders(req.Header, c.appID, c.partnerID)

	start := time.Now()
	c.stats.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		var redirect *RedirectError
		if errors.As(err, &redirect) {
			c.metrics.observeRequest(endpoint, redirect.Status, time.Since(start))
			redirect.Endpoint = endpoint
			return nil, redirect.Status, tok, redirect
		}
		c.metrics.observeRequest(endpoint, 0, time.Since(start))
		return nil, 0, tok, classifyTransportError(ctx, fmt.Errorf("%s: %w", endpoint, stripURL(err)))
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	c.metrics.observeRequest(endpoint, resp.StatusCode, time.Since(start))
	status, hdr = resp.StatusCode, resp.Header

	if status < 200 || status > 299 {
		return hdr, status, tok, newAPIError(endpoint, status, body)
	}
	if readErr != nil {
		if errors.Is(readErr, io.ErrUnexpectedEOF) || errors.Is(readErr, io.EOF) {
			return hdr, status, tok, &retryableError{reason: reasonMalformed, err: fmt.Errorf("%s: %w: truncated", endpoint, ErrMalformedBody)}
		}
		return hdr, status, tok, classifyTransportError(ctx, fmt.Errorf("%s: read body: %w", endpoint, readErr))
	}
	if len(body) > maxBodyBytes {
		return hdr, status, tok, fmt.Errorf("%s: %w: body larger than %d bytes", endpoint, ErrDecode, maxBodyBytes)
	}
	if decode == nil {
		return hdr, status, tok, nil
	}
	if !json.Valid(body) {
		return hdr, status, tok, &retryableError{reason: reasonMalformed, err: fmt.Errorf("%s: %w: not valid JSON", endpoint, ErrMalformedBody)}
	}
	return hdr, status, tok, decode(body)
}

// classifyTransportError marks failures of the transport retryable (timeout, connection)
// unless the context ended or the server's certificate was rejected.
func classifyTransportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return err
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.As(err, &netErr) && netErr.Timeout()) {
		return &retryableError{reason: reasonTimeout, err: err}
	}
	return &retryableError{reason: reasonConnection, err: err}
}

// stripURL removes the request URL (which carries query values such as e-mail addresses) from
// a *url.Error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTooManyRequests(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests
}

func retryReason(err error) string {
	var re *retryableError
	if errors.As(err, &re) {
		return re.reason
	}
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusGatewayTimeout {
			return reasonTimeout
		}
		return reasonServerError
	}
	return reasonConnection
}

// backoff returns the delay before retry n (n ≥ 1): full jitter over an exponentially growing,
// capped ceiling.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.maxBackoff
	if n < 30 {
		ceiling = min(c.minBackoff<<(n-1), c.maxBackoff)
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when absent.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, 5*time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), 5*time.Minute)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// link is one entry of _meta.links.
type link struct {
	Href string `json:"href"`
}

type pageBody[T any] struct {
	Data []T `json:"_data"`
	Meta struct {
		Links map[string]link `json:"links"`
	} `json:"_meta"`
}

// maxEmptyPages bounds how long a listing may go on without progress: it is broken off after
// maxEmptyPages empty pages in a row that each still carry a next link, and once it has
// fetched 2·⌈items/limit⌉ + maxEmptyPages pages and is sent further. A listing of full pages
// needs ⌈items/limit⌉ pages; half-full pages, and a few empty ones on the way, stay inside the
// bound.
const maxEmptyPages = 8

// list fetches first and every following page, calling fn once per page in order. It follows
// _meta.links.next.href (absolute or relative to the page's URL), refuses a next link to
// another origin, fails on a next link it has already followed, and breaks the listing off
// (ErrListingBrokenOff) when it has more pages than its items explain (see maxEmptyPages).
// first must carry the page size as its "limit" parameter.
func list[T any](ctx context.Context, c *Client, endpoint string, lim *adaptiveLimiter, first *url.URL, fn func([]T) error) error {
	seenURL := map[string]bool{first.String(): true}
	seenCursor := map[string]bool{}
	if cur := first.Query().Get("cursor"); cur != "" {
		seenCursor[cur] = true
	}
	limit, err := strconv.Atoi(first.Query().Get("limit"))
	if err != nil || limit < 1 {
		limit = 1
	}
	items, empty := 0, 0 // items listed; empty pages in a row
	u := first
	for n := 1; ; n++ {
		var p pageBody[T]
		err := c.get(ctx, endpoint, lim, u, func(body []byte) error {
			p = pageBody[T]{}
			if err := json.Unmarshal(body, &p); err != nil {
				return fmt.Errorf("%s: %w: %s", endpoint, ErrDecode, describeDecodeError(err))
			}
			if p.Data == nil {
				// A page without a list (or a bare null) must never pass for an empty one.
				return &retryableError{reason: reasonMalformed, err: fmt.Errorf("%s: %w: page without _data", endpoint, ErrMalformedBody)}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		c.stats.pages.Add(1)
		if err := fn(p.Data); err != nil {
			return err
		}
		next := strings.TrimSpace(p.Meta.Links["next"].Href)
		if next == "" {
			return nil
		}
		items += len(p.Data)
		if len(p.Data) == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty >= maxEmptyPages || n >= 2*((items+limit-1)/limit)+maxEmptyPages {
			return fmt.Errorf("%s: page %d: %w: %d items in %d pages of up to %d, the last %d of them empty, and still a next link",
				endpoint, n, ErrListingBrokenOff, items, n, limit, empty)
		}
		nu, err := u.Parse(next)
		if err != nil {
			return fmt.Errorf("%s: page %d: %w: next link is not a URL", endpoint, n, ErrDecode)
		}
		if !sameOrigin(u, nu) {
			return fmt.Errorf("%s: page %d: %w", endpoint, n, ErrForeignNextLink)
		}
		cur := nu.Query().Get("cursor")
		if seenURL[nu.String()] || (cur != "" && seenCursor[cur]) {
			return fmt.Errorf("%s: page %d: %w", endpoint, n, ErrRepeatedCursor)
		}
		seenURL[nu.String()] = true
		if cur != "" {
			seenCursor[cur] = true
		}
		u = nu
	}
}

// getOne fetches a single resource. A body of the form {"_data": {...}} is unwrapped.
func getOne[T any](ctx context.Context, c *Client, endpoint string, u *url.URL) (T, error) {
	var v T
	err := c.get(ctx, endpoint, c.persons, u, func(body []byte) error {
		var wrapped struct {
			Data json.RawMessage `json:"_data"`
		}
		if json.Unmarshal(body, &wrapped) == nil && isObject(wrapped.Data) {
			body = wrapped.Data
		}
		if !isObject(body) {
			return &retryableError{reason: reasonMalformed, err: fmt.Errorf("%s: %w: not a JSON object", endpoint, ErrMalformedBody)}
		}
		var zero T
		v = zero
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s: %w: %s", endpoint, ErrDecode, describeDecodeError(err))
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	c.stats.pages.Add(1)
	return v, nil
}

func isObject(b []byte) bool { return bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) }

// origin returns scheme://host:port of u, without user, path or query.
func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + hostPort(u)
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// describeDecodeError says what did not fit without quoting the offending value, which may be
// personal or payroll data.
func describeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q: JSON %s does not fit %s", typeErr.Field, typeErr.Value, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at offset %d", syntaxErr.Offset)
	default:
		return "a value does not fit its field"
	}
}
