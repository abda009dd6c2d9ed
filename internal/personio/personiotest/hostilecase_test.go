package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseHostile(t *testing.T) {
	got, err := ParseHostile(" id-null, huge-name ,")
	if err != nil || !slices.Equal(got, []Hostile{HostileIDNull, HostileHuge}) {
		t.Errorf("ParseHostile = %v, %v", got, err)
	}
	if _, err := ParseHostile("id-null,no-such-case"); err == nil || !strings.Contains(err.Error(), "no-such-case") {
		t.Errorf("ParseHostile of an unknown case: %v", err)
	}
	if _, err := New(Options{Hostile: []Hostile{"nope"}}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("New with an unknown hostile case: %v", err)
	}
	if len(AllHostile) != 13 {
		t.Errorf("AllHostile has %d cases, the documentation 13", len(AllHostile))
	}
}

// rawPersons decodes the items of one persons page as JSON objects.
func rawPersons(t *testing.T, c *apiClient, path string) ([]map[string]any, string) {
	t.Helper()
	p := getPage[map[string]any](c, path)
	return p.Data, p.next()
}

func TestHostilePersonItems(t *testing.T) {
	s := NewTestServer(t, fixed(30, 3))
	c := newAPIClient(t, s)
	tr := s.Truth()
	newest, first := tr.Persons[len(tr.Persons)-1], tr.Persons[0]
	find := func(items []map[string]any, key, value string) []map[string]any {
		var out []map[string]any
		for _, it := range items {
			if v, _ := it[key].(string); v == value {
				out = append(out, it)
			}
		}
		return out
	}
	for _, tc := range []struct {
		h     Hostile
		check func(t *testing.T, items []map[string]any)
	}{
		{HostileIDMissing, func(t *testing.T, items []map[string]any) {
			if len(find(items, "id", newest.ID)) != 0 || len(find(items, "email", newest.Email)) != 1 {
				t.Fatal("the newest person is listed with its id or not at all")
			}
			if _, ok := find(items, "email", newest.Email)[0]["id"]; ok {
				t.Error("id present")
			}
		}},
		{HostileIDNull, func(t *testing.T, items []map[string]any) {
			it := find(items, "email", newest.Email)
			if v, ok := it[0]["id"]; !ok || v != nil {
				t.Errorf("id = %v (present %v), want null", v, ok)
			}
		}},
		{HostileIDDuplicate, func(t *testing.T, items []map[string]any) {
			dup := find(items, "id", first.ID)
			if len(dup) != 2 || dup[1]["first_name"] != HostileMarker || len(items) != len(tr.Persons)+1 {
				t.Errorf("the first person is listed %d times, %d items", len(dup), len(items))
			}
		}},
		{HostileDateYearZero, func(t *testing.T, items []map[string]any) {
			if find(items, "id", newest.ID)[0]["created_at"] != HostileYearZero {
				t.Error("created_at not in year 0")
			}
		}},
		{HostileFutureUpdated, func(t *testing.T, items []map[string]any) {
			if find(items, "id", newest.ID)[0]["updated_at"] != HostileFutureUpdatedAt {
				t.Error("updated_at not in 2099")
			}
			later, _ := rawPersons(t, c, "/v2/persons?limit=50&updated_at.gt="+url.QueryEscape(testNow.Add(time.Hour).Format(time.RFC3339)))
			if len(later) != 1 || later[0]["id"] != newest.ID {
				t.Errorf("a filter on updated_at after now lists %d persons, want the newest", len(later))
			}
		}},
		{HostileHuge, func(t *testing.T, items []map[string]any) {
			if find(items, "id", newest.ID)[0]["first_name"] != HostileHugeName {
				t.Error("first_name not the huge name")
			}
		}},
		{HostileControlChars, func(t *testing.T, items []map[string]any) {
			if find(items, "id", newest.ID)[0]["last_name"] != HostileControlName {
				t.Error("last_name not the control name")
			}
		}},
	} {
		t.Run(string(tc.h), func(t *testing.T) {
			if err := s.SetHostile([]Hostile{tc.h}); err != nil {
				t.Fatal(err)
			}
			items, _ := rawPersons(t, c, "/v2/persons?limit=50")
			tc.check(t, items)
			// Every other person is served as usual.
			for _, p := range tr.Persons[1 : len(tr.Persons)-1] {
				if got := find(items, "id", p.ID); len(got) != 1 || got[0]["first_name"] != p.FirstName {
					t.Fatalf("person %s changed: %v", p.ID, got)
				}
			}
			if err := s.SetHostile(nil); err != nil {
				t.Fatal(err)
			}
			items, _ = rawPersons(t, c, "/v2/persons?limit=50")
			if len(items) != len(tr.Persons) || find(items, "id", newest.ID)[0]["first_name"] != newest.FirstName {
				t.Error("the listing is not restored once the case is off")
			}
		})
	}
}

func TestHostilePages(t *testing.T) {
	s := NewTestServer(t, fixed(30, 3))
	c := newAPIClient(t, s)

	if err := s.SetHostile([]Hostile{HostileEmptyPages}); err != nil {
		t.Fatal(err)
	}
	items, next := rawPersons(t, c, "/v2/persons?limit=10")
	listed := len(items)
	seen := map[string]bool{}
	for range 8 {
		if next == "" || seen[next] {
			t.Fatalf("empty-pages: next %q ends or repeats", next)
		}
		seen[next] = true
		items, next = rawPersons(t, c, next)
		listed += len(items)
	}
	if listed != 30 || len(items) != 0 {
		t.Errorf("empty-pages: %d persons in 9 pages, the last with %d: want the 30, then empty pages", listed, len(items))
	}

	if err := s.SetHostile([]Hostile{HostilePersonsRedirect}); err != nil {
		t.Fatal(err)
	}
	_, next = rawPersons(t, c, "/v2/persons?limit=10")
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, next, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	other := s.OtherOrigin()
	if resp.StatusCode != http.StatusFound || other.URL == "" || !strings.HasPrefix(resp.Header.Get("Location"), other.URL+"/v2/persons?") {
		t.Fatalf("persons-redirect: %d to %q, other origin %q", resp.StatusCode, resp.Header.Get("Location"), other.URL)
	}
	if other.Requests != 0 {
		t.Errorf("the other origin counted %d requests before any", other.Requests)
	}
	// Following it (as a client must not) reaches the other origin with the bearer token.
	page := getPage[map[string]any](c, next)
	if len(page.Data) != 1 || page.Data[0]["id"] != HostileOtherOriginPersonID || page.next() != "" {
		t.Errorf("the other origin served %v", page.Data)
	}
	if o := s.OtherOrigin(); o.Requests != 1 || !o.TokenSeen || o.SecretSeen {
		t.Errorf("other origin record %+v, want one request with a token and no secret", o)
	}
}

func TestHostileToken(t *testing.T) {
	s := NewTestServer(t, fixed(5, 3))
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	post := func(hc *http.Client) (*http.Response, []byte) {
		t.Helper()
		resp, err := hc.PostForm(s.URL()+"/v2/auth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	hc := &http.Client{Timeout: 5 * time.Second}

	if err := s.SetHostile([]Hostile{HostileNegativeExpiresIn}); err != nil {
		t.Fatal(err)
	}
	_, body := post(hc)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.ExpiresIn != -3600 {
		t.Fatalf("negative-expires-in: %s", body)
	}
	if _, ok := s.auth.check(tok.AccessToken, testNow); !ok {
		t.Error("negative-expires-in: the token is not valid")
	}

	if err := s.SetHostile([]Hostile{HostileSecretEcho}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusBadRequest, http.StatusBadRequest} {
		resp, body := post(hc)
		if resp.StatusCode != want || !bytes.Contains(body, []byte(DefaultClientSecret)) || !bytes.Contains(body, []byte(HostileMarker)) {
			t.Errorf("secret-echo reply %d: %d %s, want %d echoing the secret", i, resp.StatusCode, body, want)
		}
	}

	if err := s.SetHostile([]Hostile{HostileTokenRedirect}); err != nil {
		t.Fatal(err)
	}
	// Go's client follows a 307 with the body and, on the same host name, the headers: the
	// hole the case probes.
	_, body = post(hc)
	if !bytes.Contains(body, []byte("papi-other-origin-")) {
		t.Errorf("token-redirect: following the redirect gave %s", body)
	}
	if o := s.OtherOrigin(); o.Requests != 1 || !o.SecretSeen || o.Paths[0] != "POST /v2/auth/token" {
		t.Errorf("other origin record %+v, want the token request with the secret", o)
	}
}

func TestHostileAmount(t *testing.T) {
	s := NewTestServer(t, fixed(20, 3))
	c := newAPIClient(t, s)
	tr := s.Truth()
	newest := tr.Compensations[len(tr.Compensations)-1]
	if err := s.SetHostile([]Hostile{HostileAmount}); err != nil {
		t.Fatal(err)
	}
	from := newest.EffectiveFrom[:8] + "01"
	to, _ := time.Parse(time.DateOnly, from)
	items := listAll[map[string]any](c, "/v2/compensations?start_date="+from+"&end_date="+to.AddDate(0, 1, -1).Format(time.DateOnly))
	bad := 0
	for _, it := range items {
		amount, _ := it["amount"].(map[string]any)
		if amount["value"] == HostileBadAmount {
			bad++
			if it["id"] != newest.ID {
				t.Errorf("compensation %v has the bad amount, want %s", it["id"], newest.ID)
			}
		}
	}
	if bad != 1 {
		t.Errorf("%d compensations carry the bad amount, want 1", bad)
	}
}
