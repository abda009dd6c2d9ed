package personiotest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHostileFaults checks each hostile behaviour of Faults as a client sees it on the wire.
func TestHostileFaults(t *testing.T) {
	s := NewTestServer(t, fixed(3, 1))
	c := newAPIClient(t, s)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c.hc = noRedirects
	credentials := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}

	t.Run("redirect api", func(t *testing.T) {
		s.SetFaults(Faults{RedirectAPI: "http://other.test:8443/"})
		defer s.SetFaults(Faults{})
		resp, _ := c.get("/v2/persons?limit=2&email=a%40b.c")
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://other.test:8443/v2/persons?limit=2&email=a%40b.c" {
			t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := s.Stats().Faults["redirect"]; got != 1 {
			t.Errorf("Stats.Faults[redirect] = %d, want 1", got)
		}
	})
	t.Run("redirect token", func(t *testing.T) {
		s.SetFaults(Faults{RedirectToken: "https://other.test"})
		defer s.SetFaults(Faults{})
		resp, _ := c.postForm("/v2/auth/token", credentials)
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "https://other.test/v2/auth/token" {
			t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// API requests are not redirected by RedirectToken.
		if resp, body := c.get("/v2/persons"); resp.StatusCode != http.StatusOK {
			t.Fatalf("persons: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("endless empty pages", func(t *testing.T) {
		s.SetFaults(Faults{EndlessEmptyPages: true})
		defer s.SetFaults(Faults{})
		var first struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(getPage[json.RawMessage](c, "/v2/persons?limit=1").Data[0], &first); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/v2/persons?limit=2", "/v2/persons/" + first.ID + "/employments", "/v2/compensations?limit=50"} {
			seen := map[string]bool{}
			items := 0
			for range 6 {
				p := getPage[json.RawMessage](c, path)
				items += len(p.Data)
				path = p.next()
				if path == "" || seen[path] {
					t.Fatalf("listing ended or repeated a next link: %q", path)
				}
				seen[path] = true
			}
			if p := getPage[json.RawMessage](c, path); len(p.Data) != 0 || p.next() == "" {
				t.Errorf("a page past the end has %d items, next %q; want empty with a next link", len(p.Data), p.next())
			}
		}
		s.SetFaults(Faults{})
		if got := listAll[json.RawMessage](c, "/v2/persons?limit=2"); len(got) != 3 {
			t.Errorf("without the fault the listing has %d persons, want 3", len(got))
		}
	})
	t.Run("expires_in", func(t *testing.T) {
		for _, tc := range []struct {
			f    Faults
			want string
		}{
			{Faults{ExpiresIn: -5}, `"expires_in":-5`},
			{Faults{ExpiresIn: 1 << 40}, `"expires_in":1099511627776`},
			{Faults{OmitExpiresIn: true}, ""},
		} {
			s.SetFaults(tc.f)
			resp, body := c.postForm("/v2/auth/token", credentials)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("token: %d %s", resp.StatusCode, body)
			}
			if tc.want == "" && strings.Contains(string(body), "expires_in") || !strings.Contains(string(body), tc.want) {
				t.Errorf("%+v: token response %s", tc.f, body)
			}
		}
		s.SetFaults(Faults{})
	})
	t.Run("echo secret", func(t *testing.T) {
		s.SetFaults(Faults{EchoSecret: true})
		defer s.SetFaults(Faults{})
		resp, body := c.postForm("/v2/auth/token", credentials)
		if resp.StatusCode != http.StatusBadRequest || strings.Count(string(body), DefaultClientSecret) < 2 {
			t.Fatalf("status %d, body %s; want a 400 echoing the secret", resp.StatusCode, body)
		}
	})
	t.Run("admin json", func(t *testing.T) {
		in := `{"redirect_api":"http://a.test","redirect_token":"http://b.test:1","endless_empty_pages":true,"expires_in":-1,"echo_secret":true}`
		req, _ := http.NewRequest(http.MethodPut, s.URL()+"/admin/faults", strings.NewReader(in))
		if resp, body := c.do(req); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT /admin/faults: %d %s", resp.StatusCode, body)
		}
		want := Faults{RedirectAPI: "http://a.test", RedirectToken: "http://b.test:1", EndlessEmptyPages: true, ExpiresIn: -1, EchoSecret: true}
		if got := s.Faults(); got != want {
			t.Errorf("faults = %+v, want %+v", got, want)
		}
		s.SetFaults(Faults{})
		for _, bad := range []Faults{
			{RedirectAPI: "other.test"}, {RedirectAPI: "http://a.test/v2"}, {RedirectToken: "ftp://a.test"},
			{ExpiresIn: -1, OmitExpiresIn: true},
		} {
			if err := bad.Validate(); err == nil {
				t.Errorf("Validate(%+v) = nil", bad)
			}
		}
	})
}
