package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// companyClient fetches a token for company number i (1-based) of cs with the documented
// credential pattern.
func companyClient(t testing.TB, cs *Companies, i int) *apiClient {
	t.Helper()
	c := &apiClient{t: t, base: cs.URL(), hc: &http.Client{Timeout: 10 * time.Second}}
	c.token = companyToken(t, c, CompanyID(i), CompanySecret("", i))
	return c
}

func companyToken(t testing.TB, c *apiClient, id, secret string) string {
	t.Helper()
	resp, body := c.postForm("/v2/auth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token of %s: status %d: %s", id, resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token of %s: %v: %s", id, err, body)
	}
	return tok.AccessToken
}

// adminDo calls an admin endpoint of cs and decodes a JSON reply into out (when not nil).
func adminDo(t testing.TB, cs *Companies, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, cs.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func emailsOf(ps []personio.Person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Email
	}
	return out
}

// Each company serves its own people to its own credential, and the companies' people differ.
func TestCompaniesServeEachCompanyItsOwnData(t *testing.T) {
	cs := NewTestCompanies(t, 3, fixed(20, 5))
	if got, want := cs.IDs(), []string{"company-01", "company-02", "company-03"}; !slices.Equal(got, want) {
		t.Fatalf("IDs = %q, want %q", got, want)
	}
	seen := map[string]string{} // email -> company
	for i, id := range cs.IDs() {
		c := companyClient(t, cs, i+1)
		if !strings.HasPrefix(c.token, "papi-"+id+"-") {
			t.Errorf("token of %s is %q, want the prefix papi-%s-", id, c.token, id)
		}
		got := listAll[personio.Person](c, "/v2/persons?limit=7")
		want := cs.Company(id).Truth().Persons
		if !slices.Equal(emailsOf(got), emailsOf(want)) || len(got) != 20 {
			t.Errorf("%s: served %d persons %q, its truth has %q", id, len(got), emailsOf(got), emailsOf(want))
		}
		for _, e := range emailsOf(got) {
			if other, ok := seen[e]; ok {
				t.Errorf("%s serves %s, which %s serves too", id, e, other)
			}
			seen[e] = id
		}
		// Next links and picture URLs name the shared listener.
		pictures := 0
		for _, p := range got {
			if p.ProfilePicture == nil {
				continue
			}
			pictures++
			if !strings.HasPrefix(p.ProfilePicture.URL, cs.URL()+"/") {
				t.Errorf("%s: picture %s not on %s", id, p.ProfilePicture.URL, cs.URL())
			}
		}
		if pictures == 0 {
			t.Errorf("%s: no person has a picture", id)
		}
		if resp, body := c.get("/v2/compensations?limit=5"); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: compensations: %d %s", id, resp.StatusCode, body)
		}
	}
}

// Company A's token never reaches company B's data: where a person id occurs in both, A's
// token gets A's person; A's other ids are 404 to B; a token forged to name B is refused; A's
// secret is not B's; a webhook of A is not B's.
func TestCompaniesIsolation(t *testing.T) {
	cs := NewTestCompanies(t, 2, fixed(40, 9))
	a, b := companyClient(t, cs, 1), companyClient(t, cs, 2)
	byID := func(tr Truth) map[string]personio.Person {
		m := map[string]personio.Person{}
		for _, p := range tr.Persons {
			m[p.ID] = p
		}
		return m
	}
	truthA, truthB := byID(cs.Company("company-01").Truth()), byID(cs.Company("company-02").Truth())
	shared := 0
	for id, pa := range truthA {
		pb, inB := truthB[id]
		for _, c := range []struct {
			name   string
			client *apiClient
			want   personio.Person
			found  bool
		}{{"company-01", a, pa, true}, {"company-02", b, pb, inB}} {
			resp, body := c.client.get("/v2/persons/" + id)
			if !c.found {
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s's token got company-01's person %s: %d %s", c.name, id, resp.StatusCode, body)
				}
				continue
			}
			var p personio.Person
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &p) != nil {
				t.Fatalf("%s: GET person %s: %d %s", c.name, id, resp.StatusCode, body)
			}
			if p.Email != c.want.Email {
				t.Errorf("%s's token got person %s with email %q, want its own %q", c.name, id, p.Email, c.want.Email)
			}
		}
		if inB {
			shared++
		}
	}
	if shared == 0 || shared == len(truthA) {
		t.Fatalf("%d of %d person ids occur in both companies: the test needs some, not all", shared, len(truthA))
	}

	// A token of company-01 with company-02's name on it: routed to company-02, which never
	// issued it.
	forged := &apiClient{t: t, base: cs.URL(), hc: a.hc, token: strings.Replace(a.token, "company-01", "company-02", 1)}
	if resp, body := forged.get("/v2/persons"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged token: %d %s, want 401", resp.StatusCode, body)
	}
	// Unknown, missing and malformed tokens are refused.
	for _, tok := range []string{"", "papi-", "papi-company-99-abc", "papi-company-01", "nonsense"} {
		c := &apiClient{t: t, base: cs.URL(), hc: a.hc, token: tok}
		if resp, body := c.get("/v2/persons"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: %d %s, want 401", tok, resp.StatusCode, body)
		}
	}
	// company-01's secret does not open company-02.
	resp, body := a.postForm("/v2/auth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"company-02"}, "client_secret": {CompanySecret("", 1)}})
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("unauthorized_client")) {
		t.Errorf("company-02 with company-01's secret: %d %s", resp.StatusCode, body)
	}
	// Unknown client, and the request of a lone Server's default credential.
	for _, id := range []string{"company-03", DefaultClientID, ""} {
		resp, body := a.postForm("/v2/auth/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {"x"}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("client_id %q: %d %s, want 400", id, resp.StatusCode, body)
		}
	}

	createHook(t, a, map[string]any{"url": "https://hooks.example.com/a", "description": "a", "token": "t", "enabled_events": []string{personio.EventPersonUpdated}})
	var list pageOf[map[string]any]
	if resp, body := b.get("/v2/webhooks"); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Data) != 0 {
		t.Errorf("company-02 lists company-01's webhook: %d %s", resp.StatusCode, body)
	}

	// Revoking A's token is routed to A and leaves B's alone.
	if resp, body := a.postForm("/v2/auth/revoke", url.Values{"token": {a.token}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if resp, _ := a.get("/v2/persons"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := b.get("/v2/persons"); resp.StatusCode != http.StatusOK {
		t.Errorf("company-02 after company-01's revoke: %d, want 200", resp.StatusCode)
	}
}

// Each company's credential has budgets of its own: company-01 at its limit (429) does not
// throttle company-02, on the API nor on the token endpoint.
func TestCompaniesBudgetsPerCompany(t *testing.T) {
	clk := newClock(testNow)
	cs := NewTestCompanies(t, 2, Options{Persons: 5, Seed: 1, Now: clk.Now, RateLimit: Rate{PerMinute: 60, Burst: 3}})
	a, b := companyClient(t, cs, 1), companyClient(t, cs, 2)
	for i := range 3 {
		if resp, body := a.get("/v2/persons"); resp.StatusCode != http.StatusOK {
			t.Fatalf("company-01 request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	if resp, _ := a.get("/v2/persons"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("company-01 request 4: %d, want 429", resp.StatusCode)
	}
	for i := range 3 {
		resp, body := b.get("/v2/persons")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("company-02 request %d while company-01 is throttled: %d %s", i+1, resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("x-ratelimit-remaining"), []string{"2", "1", "0"}[i]; got != want {
			t.Errorf("company-02 request %d: x-ratelimit-remaining %q, want %q", i+1, got, want)
		}
	}

	// The token endpoint's budget (burst 10) is per company too; one was spent above.
	for i := range 10 {
		resp, _ := a.postForm("/v2/auth/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"company-01"}, "client_secret": {CompanySecret("", 1)}})
		if i == 9 && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("company-01 token request %d: %d, want 429", i+2, resp.StatusCode)
		}
	}
	companyToken(t, b, "company-02", CompanySecret("", 2))
	if st := cs.Company("company-02").Stats(); st.RateLimited != 0 {
		t.Errorf("company-02 stats count 429s: %+v", st)
	}
}

// The admin endpoints of one company are under /admin/companies/{id}/ and touch that company
// alone; unqualified paths churn or fault every company, the others name the per-company paths.
func TestCompaniesAdmin(t *testing.T) {
	cs := NewTestCompanies(t, 3, fixed(12, 2))
	var list []companyInfo
	if code := adminDo(t, cs, http.MethodGet, "/admin/companies", nil, &list); code != http.StatusOK || len(list) != 3 {
		t.Fatalf("GET /admin/companies: %d %+v", code, list)
	}
	if l := list[1]; l.ID != "company-02" || l.ClientID != "company-02" || l.Seed != CompanySeed(2, 2) || l.Persons != 12 ||
		l.WebhookID != "2" || l.Admin != "/admin/companies/company-02/" {
		t.Errorf("company-02 listed as %+v", l)
	}

	before := map[string]Truth{}
	for _, id := range cs.IDs() {
		var tr Truth
		if code := adminDo(t, cs, http.MethodGet, "/admin/companies/"+id+"/truth", nil, &tr); code != http.StatusOK {
			t.Fatalf("truth of %s: %d", id, code)
		}
		if !slices.Equal(emailsOf(tr.Persons), emailsOf(cs.Company(id).Truth().Persons)) {
			t.Errorf("GET /admin/companies/%s/truth is not its Truth", id)
		}
		before[id] = tr
	}

	var res ChurnResult
	if code := adminDo(t, cs, http.MethodPost, "/admin/companies/company-02/churn", Churn{Hires: 2, Deletions: 1}, &res); code != http.StatusOK || len(res.Hires) != 2 {
		t.Fatalf("churn company-02: %d %+v", code, res)
	}
	for _, id := range cs.IDs() {
		n := len(cs.Company(id).Truth().Persons)
		want := 12
		if id == "company-02" {
			want = 13
		}
		if n != want {
			t.Errorf("%s has %d persons after churning company-02, want %d", id, n, want)
		}
	}

	if code := adminDo(t, cs, http.MethodPut, "/admin/companies/company-03/faults", Faults{P503: 1}, nil); code != http.StatusOK {
		t.Fatalf("faults of company-03: %d", code)
	}
	if resp, _ := companyClient(t, cs, 3).get("/v2/persons"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("company-03 with P503 1: %d", resp.StatusCode)
	}
	if resp, _ := companyClient(t, cs, 1).get("/v2/persons"); resp.StatusCode != http.StatusOK {
		t.Errorf("company-01 with company-03's faults: %d", resp.StatusCode)
	}
	var f Faults
	if code := adminDo(t, cs, http.MethodGet, "/admin/companies/company-03/faults", nil, &f); code != http.StatusOK || f.P503 != 1 {
		t.Errorf("GET faults of company-03: %d %+v", code, f)
	}
	var st Stats
	if code := adminDo(t, cs, http.MethodGet, "/admin/companies/company-03/stats", nil, &st); code != http.StatusOK || st.Faults["503"] != 1 {
		t.Errorf("stats of company-03: %d %+v", code, st)
	}
	if code := adminDo(t, cs, http.MethodPut, "/admin/companies/company-03/hidden-fields", []string{"email"}, nil); code != http.StatusOK {
		t.Errorf("hidden fields of company-03: %d", code)
	}
	if got := cs.Company("company-01").HiddenFields(); len(got) != 0 {
		t.Errorf("company-01 hides %q", got)
	}

	if code := adminDo(t, cs, http.MethodGet, "/admin/companies/company-04/truth", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown company: %d, want 404", code)
	}
	if code := adminDo(t, cs, http.MethodGet, "/admin/truth", nil, nil); code != http.StatusNotFound {
		t.Errorf("unqualified truth of 3 companies: %d, want 404", code)
	}

	// Unqualified churn and faults apply to every company.
	var all map[string]ChurnResult
	if code := adminDo(t, cs, http.MethodPost, "/admin/churn", Churn{Hires: 1}, &all); code != http.StatusOK || len(all) != 3 {
		t.Fatalf("churn all: %d %+v", code, all)
	}
	for _, id := range cs.IDs() {
		if len(all[id].Hires) != 1 {
			t.Errorf("churn all: %s hired %v", id, all[id].Hires)
		}
	}
	if code := adminDo(t, cs, http.MethodPut, "/admin/faults", Faults{}, nil); code != http.StatusOK {
		t.Fatalf("faults all: %d", code)
	}
	if f := cs.Company("company-03").Faults(); f != (Faults{}) {
		t.Errorf("company-03 after PUT /admin/faults {}: %+v", f)
	}
	if code := adminDo(t, cs, http.MethodPut, "/admin/faults", Faults{P500: 2}, nil); code != http.StatusBadRequest {
		t.Errorf("invalid faults for all: %d, want 400", code)
	}
}

// With one company the admin paths of a lone Server work unchanged, and company-01's data are
// New's with the same options.
func TestCompaniesOfOneKeepTheLonePaths(t *testing.T) {
	opts := fixed(15, 8)
	cs := NewTestCompanies(t, 1, opts)
	lone := NewTestServer(t, opts)
	var tr Truth
	if code := adminDo(t, cs, http.MethodGet, "/admin/truth", nil, &tr); code != http.StatusOK {
		t.Fatalf("GET /admin/truth: %d", code)
	}
	if want := lone.Truth(); !slices.Equal(emailsOf(tr.Persons), emailsOf(want.Persons)) || len(tr.Compensations) != len(want.Compensations) {
		t.Errorf("company-01's truth differs from New's with the same options")
	}
	var res ChurnResult
	if code := adminDo(t, cs, http.MethodPost, "/admin/churn", Churn{Hires: 1}, &res); code != http.StatusOK || len(res.Hires) != 1 {
		t.Errorf("POST /admin/churn: %d %+v", code, res)
	}
	if code := adminDo(t, cs, http.MethodPut, "/admin/faults", Faults{P500: 1}, nil); code != http.StatusOK || cs.Servers()[0].Faults().P500 != 1 {
		t.Errorf("PUT /admin/faults: %d", code)
	}
	var st Stats
	if code := adminDo(t, cs, http.MethodGet, "/admin/stats", nil, &st); code != http.StatusOK {
		t.Errorf("GET /admin/stats: %d", code)
	}
	if code := adminDo(t, cs, http.MethodGet, "/admin/companies/company-01/truth", nil, &tr); code != http.StatusOK {
		t.Errorf("GET /admin/companies/company-01/truth: %d", code)
	}
}

// The same options give the same companies; CompanySeed keeps company-01 at the seed.
func TestCompaniesDeterministic(t *testing.T) {
	a, err := NewCompanies(3, fixed(10, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewCompanies(3, fixed(10, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range a.IDs() {
		if !reflect.DeepEqual(a.Company(id).Truth(), b.Company(id).Truth()) {
			t.Errorf("%s differs between two builds with the same options", id)
		}
	}
	if CompanySeed(4, 1) != 4 || CompanySeed(4, 2) == CompanySeed(5, 1) || CompanySeed(4, 2) == CompanySeed(4, 3) {
		t.Errorf("CompanySeed(4, 1..3) = %d %d %d", CompanySeed(4, 1), CompanySeed(4, 2), CompanySeed(4, 3))
	}
	if CompanyID(7) != "company-07" || CompanyID(100) != "company-100" || CompanySecret("", 7) != "sim-secret-07" || CompanySecret("s", 12) != "s-12" {
		t.Errorf("credential pattern: %s %s %s %s", CompanyID(7), CompanyID(100), CompanySecret("", 7), CompanySecret("s", 12))
	}
}

func TestNewCompaniesValidates(t *testing.T) {
	for _, c := range []struct {
		n    int
		opts Options
		want string
	}{
		{0, Options{}, "companies must be 1 to"},
		{MaxCompanies + 1, Options{}, "companies must be 1 to"},
		{2, Options{ClientID: "x"}, "ClientID must be empty"},
		{2, Options{Webhooks: WebhookOptions{CompanyID: "9"}}, "Webhooks.CompanyID must be empty"},
		{2, Options{Persons: -1}, "Persons must not be negative"},
	} {
		cs, err := NewCompanies(c.n, c.opts)
		if err == nil {
			cs.Close()
			t.Errorf("NewCompanies(%d, %+v) accepted", c.n, c.opts)
			continue
		}
		if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewCompanies(%d, …): %v, want ErrInvalidOptions saying %q", c.n, err, c.want)
		}
	}
}

func TestWriteCredentials(t *testing.T) {
	cs := NewTestCompanies(t, 2, Options{Persons: 3, Seed: 1, ClientSecret: "base"})
	dir := filepath.Join(t.TempDir(), "creds")
	creds, err := cs.WriteCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 2 {
		t.Fatalf("%d credentials", len(creds))
	}
	for i, cr := range creds {
		if cr.Company != CompanyID(i+1) || cr.ClientID != cr.Company || cr.ClientSecret != "base-0"+string(rune('1'+i)) ||
			cr.SecretFile != filepath.Join(dir, cr.Company+".secret") {
			t.Errorf("credential %d: %+v", i, cr)
		}
		b, err := os.ReadFile(cr.SecretFile)
		if err != nil || string(b) != cr.ClientSecret {
			t.Errorf("%s: %q, %v", cr.SecretFile, b, err)
		}
		if fi, err := os.Stat(cr.SecretFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", cr.SecretFile, fi.Mode(), err)
		}
		c := &apiClient{t: t, base: cs.URL(), hc: http.DefaultClient}
		companyToken(t, c, cr.ClientID, string(b))
	}
}

// Options.ChurnEvery churns every company in the background, each with its own data.
func TestCompaniesBackgroundChurnEveryCompany(t *testing.T) {
	opts := fixed(5, 3)
	opts.ChurnEvery = 5 * time.Millisecond
	opts.ChurnMix = Churn{Hires: 1}
	cs := NewTestCompanies(t, 3, opts)
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range cs.Servers() {
		for len(s.Truth().Persons) <= 5 {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not churned", s.opts.ClientID)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Each company's webhooks deliver its own events with its company_id.
func TestCompaniesWebhooksPerCompany(t *testing.T) {
	opts := fixed(5, 3)
	opts.Webhooks = WebhookOptions{Backoff: time.Millisecond, Attempts: 1}
	cs := NewTestCompanies(t, 2, opts)
	rc := newReceiver(t)
	b := companyClient(t, cs, 2)
	w := createHook(t, b, map[string]any{"url": rc.srv.URL, "description": "b", "token": "t", "enabled_events": []string{personio.EventPersonUpdated}})
	if resp, body := b.send(http.MethodPatch, "/v2/webhooks/"+w["id"].(string), map[string]any{"status": "ENABLED"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("enable: %d %s", resp.StatusCode, body)
	}
	cs.Company("company-01").FireWebhookEvent(personio.EventPersonUpdated, "1", "")
	cs.Company("company-02").FireWebhookEvent(personio.EventPersonUpdated, "2", "")
	waitIdle(t, cs.Company("company-01"))
	waitIdle(t, cs.Company("company-02"))
	evs := rc.events()
	if len(evs) != 1 || evs[0].CompanyID != "2" {
		t.Errorf("the receiver of company-02's webhook got %+v, want one event of company_id 2", evs)
	}
}
