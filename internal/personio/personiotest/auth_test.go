package personiotest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenEndpoint(t *testing.T) {
	opts := fixed(5, 1)
	opts.NoRateLimit = false // rate-limit headers are announced only while a budget is enforced
	s := NewTestServer(t, opts)
	c := &apiClient{t: t, base: s.URL(), hc: http.DefaultClient}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}

	resp, body := c.postForm("/v2/auth/token", good)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.ExpiresIn != 86400 || tok.TokenType != "Bearer" || tok.Scope == "" {
		t.Fatalf("token reply %+v", tok)
	}
	for _, h := range []string{"x-ratelimit-remaining", "x-ratelimit-replenish-rate", "x-ratelimit-burst-capacity"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("token reply lacks %s", h)
		}
	}

	with := func(k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range good {
			out[kk] = vv
		}
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		form      url.Values
		json      bool
		wantError string
	}{
		{"missing grant_type", with("grant_type", ""), false, "invalid_request"},
		{"missing secret", with("client_secret", ""), false, "invalid_request"},
		{"unsupported grant", with("grant_type", "password"), false, "unsupported_grant_type"},
		{"unknown client", with("client_id", "who"), false, "invalid_client"},
		{"wrong secret", with("client_secret", "wrong"), false, "unauthorized_client"},
		{"json body", good, true, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if tc.json {
				b, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": DefaultClientID, "client_secret": DefaultClientSecret})
				req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v2/auth/token", strings.NewReader(string(b)))
				req.Header.Set("Content-Type", "application/json")
				resp, body = c.do(req)
			} else {
				resp, body = c.postForm("/v2/auth/token", tc.form)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var e tokenError
			if err := json.Unmarshal(body, &e); err != nil || e.Error != tc.wantError || e.ErrorDescription == "" || e.TraceID == "" {
				t.Fatalf("error body %s (%v), want error %q", body, err, tc.wantError)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	clk := newClock(testNow)
	opts := fixed(5, 1)
	opts.NoRateLimit = false // headers are announced only while a budget is enforced
	opts.RateLimit = Rate{PerMinute: 6000, Burst: 100}
	opts.Now = clk.Now
	opts.TokenTTL = time.Hour
	s := NewTestServer(t, opts)
	c := newAPIClient(t, s)

	check := func(name string, wantStatus int) {
		t.Helper()
		resp, body := c.get("/v2/persons")
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", name, resp.StatusCode, wantStatus, body)
		}
		if wantStatus == http.StatusUnauthorized {
			errorBodyOf(t, body)
		}
		for _, h := range []string{"x-ratelimit-remaining", "x-ratelimit-replenish-rate", "x-ratelimit-burst-capacity"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s: reply lacks %s", name, h)
			}
		}
	}
	check("fresh token", http.StatusOK)
	good := c.token
	c.token = ""
	check("no token", http.StatusUnauthorized)
	c.token = "papi-unknown"
	check("unknown token", http.StatusUnauthorized)
	c.token = good

	clk.Advance(59 * time.Minute)
	check("before expiry", http.StatusOK)
	clk.Advance(time.Minute)
	check("at expiry", http.StatusUnauthorized)

	c.token = c.fetchToken()
	check("new token", http.StatusOK)
	resp, body := c.postForm("/v2/auth/revoke", url.Values{"token": {c.token}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	check("revoked", http.StatusUnauthorized)
	if resp, _ := c.postForm("/v2/auth/revoke", url.Values{}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("revoke without token: status %d, want 400", resp.StatusCode)
	}
}

func TestEarlyTokenExpiry(t *testing.T) {
	clk := newClock(testNow)
	opts := fixed(5, 1)
	opts.Now = clk.Now
	s := NewTestServer(t, opts)
	c := newAPIClient(t, s)
	old := c.token

	s.SetFaults(Faults{TokenTTL: time.Minute})
	c.token = c.fetchToken()
	resp, body := c.postForm("/v2/auth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}})
	if !strings.Contains(string(body), `"expires_in":86400`) || resp.StatusCode != 200 {
		t.Fatalf("early-expiring token must still announce the normal lifetime: %s", body)
	}
	clk.Advance(time.Minute)
	if resp, _ := c.get("/v2/persons"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token issued under Faults.TokenTTL: status %d after a minute, want 401", resp.StatusCode)
	}
	c.token = old
	if resp, _ := c.get("/v2/persons"); resp.StatusCode != http.StatusOK {
		t.Fatalf("token issued before the fault: status %d, want 200", resp.StatusCode)
	}
}
