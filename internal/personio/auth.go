package personio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const tokenEndpoint = "POST /v2/auth/token"

// refusalMemory is how long a refusal of the credentials by the token endpoint is remembered.
// Every caller during that time gets the same error without asking again, so a sync whose
// listings start together sends one token request, not one per listing (which the token
// endpoint's own rate limit would answer with 429s). It is short so that a corrected
// credential (a restarted process, or a secret rotated at Personio) is tried again soon.
const refusalMemory = 5 * time.Second

// Bounds of the lifetime the cache gives a token. Personio announces 24 hours (expires_in
// 86400). A token announced without a lifetime (expires_in absent or 0), with a negative one
// or with less than minTokenLifetime is kept for minTokenLifetime: refreshing before every API
// request would spend the token endpoint's budget on nothing (a token that really dies sooner
// is replaced on the first 401). Longer lifetimes are capped at maxTokenLifetime.
const (
	minTokenLifetime = time.Minute
	maxTokenLifetime = 24 * time.Hour
)

// tokenRateLimit paces the token requests of one credential: a few at once, then one a
// second. A working endpoint is asked once a day and after a 401; the pace matters only when
// it fails, so that however many callers retry, a broken token endpoint is not hammered.
var tokenRateLimit = Rate{PerMinute: 60, Burst: 4}

// tokenCache holds the access token of one credential. It fetches a token on first use,
// refreshes it shortly before it expires, and drops it when an API call says it is no longer
// valid. One fetch runs at a time, paced by tokenRateLimit; waiters honour their context. A
// refusal of the credentials (an *AuthError) is remembered for refusalMemory.
type tokenCache struct {
	cfg  clientcredentials.Config
	http *http.Client
	now  func() time.Time
	lim  *adaptiveLimiter // paces the token requests

	sem          chan struct{} // one slot: held while reading or replacing tok
	tok          *oauth2.Token
	fresh        time.Time // when tok expires minus the refresh margin
	refused      error     // the last *AuthError of the token endpoint
	refusedUntil time.Time // refused is returned without asking until then

	last atomic.Pointer[string] // the access token fetched last, for Client.scrub
}

func newTokenCache(cfg clientcredentials.Config, hc *http.Client) *tokenCache {
	return &tokenCache{cfg: cfg, http: hc, now: time.Now, lim: newAdaptiveLimiter(tokenRateLimit, nil), sem: make(chan struct{}, 1)}
}

// lastAccessToken returns the access token fetched last ("" before the first), even after
// Invalidate dropped it.
func (c *tokenCache) lastAccessToken() string {
	if p := c.last.Load(); p != nil {
		return *p
	}
	return ""
}

// Token returns a valid access token, fetching one if needed.
func (c *tokenCache) Token(ctx context.Context) (*oauth2.Token, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.tok != nil && c.now().Before(c.fresh) {
		return c.tok, nil
	}
	if c.refused != nil && c.now().Before(c.refusedUntil) {
		return nil, c.refused
	}
	if _, err := c.lim.Wait(ctx); err != nil {
		return nil, waitError(ctx, tokenEndpoint, err)
	}
	tok, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		err = classifyTokenError(ctx, err)
		if errors.Is(err, ErrAuth) {
			c.refused, c.refusedUntil = err, c.now().Add(refusalMemory)
		}
		return nil, err
	}
	c.refused = nil
	c.last.Store(&tok.AccessToken)
	// oauth2 set Expiry from expires_in on its own clock (zero when expires_in was absent or
	// 0). Refresh a tenth of the lifetime early, at most a minute.
	lifetime := min(max(time.Until(tok.Expiry), minTokenLifetime), maxTokenLifetime)
	c.tok, c.fresh = tok, c.now().Add(lifetime-min(lifetime/10, time.Minute))
	return tok, nil
}

// Invalidate drops tok if it is still the cached token, so that the next Token call fetches a
// new one. Callers that saw a 401 with an older token do not discard a newer one.
func (c *tokenCache) Invalidate(ctx context.Context, tok *oauth2.Token) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-c.sem }()
	if c.tok == tok {
		c.tok = nil
	}
}

// classifyTokenError turns a token endpoint failure into a typed error: 400/401/403 are
// permanent *AuthError, 429 and 5xx a retryable *APIError, a redirect to another origin a
// permanent *RedirectError, transport failures retryable, a 2xx without a usable token a
// retryable ErrMalformedBody. Of the response body only the OAuth2 error code and the trace id
// are kept: its description may echo the client id or secret.
func classifyTokenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		return redirect
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status == 0 || (status >= 200 && status < 300) {
			// A 2xx without a usable token: the server misbehaves; retry.
			return errNotATokenResponse()
		}
		apiErr := newAPIError(tokenEndpoint, status, re.Body)
		if c := code(re.ErrorCode); c != "" {
			apiErr.Type = c
		}
		if apiErr.Retryable() {
			return apiErr
		}
		reason := "token request refused"
		if c := apiErr.codes(); c != "" {
			reason += " (" + c + ")"
		}
		return &AuthError{Endpoint: tokenEndpoint, Status: status,
			Reason: reason + "; check PERSONIO_CLIENT_ID and PERSONIO_CLIENT_SECRET", Err: apiErr}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return classifyTransportError(ctx, fmt.Errorf("fetch token: %w", stripURL(err)))
	}
	// Any other failure is oauth2's reading of a 2xx reply, whose message may quote it.
	return errNotATokenResponse()
}

// errNotATokenResponse is a 2xx reply of the token endpoint without a usable token: the server
// misbehaves; retry. It does not quote the reply.
func errNotATokenResponse() error {
	return &retryableError{reason: reasonMalformed, err: fmt.Errorf("%s: %w: not a token response", tokenEndpoint, ErrMalformedBody)}
}
