package personiotest

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// scope is what every simulated credential may do.
const scope = "personio:persons:read personio:employments:read personio:compensations:read"

type token struct {
	clientID string
	expires  time.Time
}

// authority issues, checks and revokes access tokens.
type authority struct {
	clientID, clientSecret string
	ttl                    time.Duration
	// prefix starts every token issued: "papi-", or "papi-<company>-" for a company of
	// Companies, whose router finds the company a bearer token belongs to by it.
	prefix string

	mu     sync.Mutex
	tokens map[string]token
}

func newAuthority(opts Options) *authority {
	return &authority{
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		ttl:          opts.TokenTTL,
		prefix:       "papi-",
		tokens:       make(map[string]token),
	}
}

// issue returns a new token valid until now+ttl (or now+early when early > 0 and shorter).
func (a *authority) issue(clientID string, now time.Time, early time.Duration) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := a.prefix + hex.EncodeToString(b[:])
	ttl := a.ttl
	if early > 0 && early < ttl {
		ttl = early
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Forget expired tokens so long runs do not grow the map without bound.
	if len(a.tokens) > 1024 {
		for k, t := range a.tokens {
			if !now.Before(t.expires) {
				delete(a.tokens, k)
			}
		}
	}
	a.tokens[tok] = token{clientID: clientID, expires: now.Add(ttl)}
	return tok
}

// check returns the client a valid token belongs to.
func (a *authority) check(tok string, now time.Time) (clientID string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, found := a.tokens[tok]
	if !found || !now.Before(t.expires) {
		return "", false
	}
	return t.clientID, true
}

func (a *authority) revoke(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tokens, tok)
}
