package personio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// tokenCache holds the access token of one credential. It fetches a token on first use,
// refreshes it shortly before it expires, and drops it when an API call says it is no longer
// valid. One fetch runs at a time; waiters honour their context. A refusal of the credentials
// (an *AuthError) is remembered for refusalMemory.
type tokenCache struct {
	cfg  clientcredentials.Config
	http *http.Client
	now  func() time.Time

	sem          chan struct{} // one slot: held while reading or replacing tok
	tok          *oauth2.Token
	fresh        time.Time // when tok expires minus the refresh margin; zero = never
	refused      error     // the last *AuthError of the token endpoint
	refusedUntil time.Time // refused is returned without asking until then
}

func newTokenCache(cfg clientcredentials.Config, hc *http.Client) *tokenCache {
	return &tokenCache{cfg: cfg, http: hc, now: time.Now, sem: make(chan struct{}, 1)}
}

// Token returns a valid access token, fetching one if needed.
func (c *tokenCache) Token(ctx context.Context) (*oauth2.Token, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.tok != nil && (c.fresh.IsZero() || c.now().Before(c.fresh)) {
		return c.tok, nil
	}
	if c.refused != nil && c.now().Before(c.refusedUntil) {
		return nil, c.refused
	}
	start := c.now()
	tok, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		err = classifyTokenError(ctx, err)
		if errors.Is(err, ErrAuth) {
			c.refused, c.refusedUntil = err, c.now().Add(refusalMemory)
		}
		return nil, err
	}
	c.refused = nil
	c.tok, c.fresh = tok, time.Time{}
	if !tok.Expiry.IsZero() {
		// Refresh a tenth of the lifetime early, at most a minute.
		margin := min(tok.Expiry.Sub(start)/10, time.Minute)
		c.fresh = tok.Expiry.Add(-max(margin, 0))
	}
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
// permanent *AuthError, 429 and 5xx a retryable *APIError, transport failures retryable.
// Messages never include the response body, which may echo the client id.
func classifyTokenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status == 0 || (status >= 200 && status < 300) {
			// A 2xx without a usable token: the server misbehaves; retry.
			return &retryableError{reason: reasonMalformed, err: fmt.Errorf("%w: token response without access token", ErrMalformedBody)}
		}
		apiErr := newAPIError(tokenEndpoint, status, re.Body)
		if re.ErrorCode != "" {
			apiErr.Type = clip(re.ErrorCode, 100)
		}
		if apiErr.Retryable() {
			return apiErr
		}
		return &AuthError{Endpoint: tokenEndpoint, Status: status,
			Reason: "token request refused: " + apiErr.Title + " (check PERSONIO_CLIENT_ID and PERSONIO_CLIENT_SECRET)", Err: apiErr}
	}
	return classifyTransportError(ctx, fmt.Errorf("fetch token: %w", err))
}
