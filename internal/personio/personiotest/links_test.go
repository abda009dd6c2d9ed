package personiotest

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// personLinks is the part of a served person that points elsewhere.
type personLinks struct {
	ID             string `json:"id"`
	ProfilePicture *struct {
		URL string `json:"url"`
	} `json:"profile_picture"`
	Meta *struct {
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"links"`
	} `json:"_meta"`
}

// Every person carries _meta.links.employments.href, as in every example of Personio's spec, and
// a client that follows it with a plain HTTP client gets that person's employments.
func TestPersonLinksLeadToItsEmployments(t *testing.T) {
	s := NewTestServer(t, fixed(30, 7))
	c := newAPIClient(t, s)
	tr := s.Truth()
	listed := listAll[personLinks](c, "/v2/persons?limit=7")
	if len(listed) != len(tr.Persons) {
		t.Fatalf("listed %d persons, want %d", len(listed), len(tr.Persons))
	}
	var got personLinks
	if resp, body := c.get("/v2/persons/" + tr.Persons[3].ID); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("get person: %d %s", resp.StatusCode, body)
	}
	for _, p := range append(listed, got) {
		if p.Meta == nil || p.Meta.Links["employments"].Href == "" {
			t.Fatalf("person %s has no _meta.links.employments.href", p.ID)
		}
		href := p.Meta.Links["employments"].Href
		u, err := url.Parse(href)
		if err != nil || u.Scheme+"://"+u.Host != s.URL() || u.Path != "/v2/persons/"+p.ID+"/employments" {
			t.Fatalf("person %s: employments link %q, want %s/v2/persons/%s/employments", p.ID, href, s.URL(), p.ID)
		}
		req, _ := http.NewRequest(http.MethodGet, href, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page pageOf[struct {
			ID     string `json:"id"`
			Person struct {
				ID string `json:"id"`
			} `json:"person"`
		}]
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %v", href, resp.StatusCode, err)
		}
		var ids, want []string
		for _, e := range page.Data {
			if e.Person.ID != p.ID {
				t.Fatalf("GET %s returned an employment of person %s", href, e.Person.ID)
			}
			ids = append(ids, e.ID)
		}
		for _, e := range tr.Employments[p.ID] {
			want = append(want, e.ID)
		}
		if !slices.Equal(ids, want) || len(ids) == 0 {
			t.Fatalf("GET %s: employments %v, want %v", href, ids, want)
		}
	}
}

// profile_picture.url points at the simulator and serves a picture there, not at
// api.personio.de; the truth shows the URL as served.
func TestProfilePictureIsServedByTheSimulator(t *testing.T) {
	s := NewTestServer(t, fixed(20, 3))
	c := newAPIClient(t, s)
	tr := s.Truth()
	listed := listAll[personLinks](c, "/v2/persons?limit=50")
	pictures := 0
	for i, p := range listed {
		if p.ProfilePicture == nil {
			if tr.Persons[i].ProfilePicture != nil {
				t.Fatalf("person %s: no picture served, the truth has one", p.ID)
			}
			continue
		}
		pictures++
		want := s.URL() + "/v2/persons/" + p.ID + "/profile-picture"
		if p.ProfilePicture.URL != want || tr.Persons[i].ProfilePicture == nil || tr.Persons[i].ProfilePicture.URL != want {
			t.Fatalf("person %s: picture %q (truth %+v), want %q", p.ID, p.ProfilePicture.URL, tr.Persons[i].ProfilePicture, want)
		}
		resp, body := c.get(p.ProfilePicture.URL)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET %s: %d %q", p.ProfilePicture.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if _, err := png.Decode(bytes.NewReader(body)); err != nil {
			t.Fatalf("GET %s: not a PNG: %v", p.ProfilePicture.URL, err)
		}
	}
	if pictures == 0 {
		t.Fatal("no person has a picture")
	}
	if resp, _ := c.get("/v2/persons/nope/profile-picture"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("picture of an unknown person: %d, want 404", resp.StatusCode)
	}
	c.token = ""
	if resp, _ := c.get("/v2/persons/" + listed[0].ID + "/profile-picture"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("picture without a token: %d, want 401", resp.StatusCode)
	}
}

// _meta links are built from the origin the client used, as the page links are; the picture
// URL, which is content, stays on PublicURL whatever host name the client used, so the same
// person is the same data through a proxy.
func TestPersonLinksUseTheRequestedOrigin(t *testing.T) {
	for _, public := range []string{"", "http://personio-sim:8080"} {
		opts := fixed(5, 3)
		opts.PublicURL = public
		s := NewTestServer(t, opts)
		if public == "" {
			public = s.URL()
		}
		c := newAPIClient(t, s)
		p := s.Truth().Persons[0]
		if p.ProfilePicture == nil || p.ProfilePicture.URL != public+"/v2/persons/"+p.ID+"/profile-picture" {
			t.Fatalf("truth picture %+v, want on %s", p.ProfilePicture, public)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v2/persons/"+p.ID, nil)
		req.Host = "personio.internal:8080"
		req.Header.Set("Authorization", "Bearer "+c.token)
		_, body := c.do(req)
		if !strings.Contains(string(body), `"href":"http://personio.internal:8080/v2/persons/`+p.ID+`/employments"`) {
			t.Fatalf("links not on the requested origin: %s", body)
		}
		if !strings.Contains(string(body), `"url":"`+public+`/v2/persons/`+p.ID+`/profile-picture"`) {
			t.Fatalf("picture not on %s: %s", public, body)
		}
		if strings.Contains(string(body), "invalid") || strings.Contains(string(body), "api.personio.de") {
			t.Fatalf("a link points elsewhere: %s", body)
		}
	}
	if _, err := New(Options{PublicURL: "personio-sim:8080/x"}); err == nil {
		t.Error("a PublicURL that is not an origin was accepted")
	}
}

// Employments link to their person and supervisor, as in the examples of the employments spec.
func TestEmploymentLinksLeadToPersons(t *testing.T) {
	s := NewTestServer(t, fixed(30, 7))
	c := newAPIClient(t, s)
	supervised := 0
	for _, p := range s.Truth().Persons {
		for _, e := range listAll[struct {
			ID         string `json:"id"`
			Supervisor *struct {
				ID string `json:"id"`
			} `json:"supervisor"`
			Meta struct {
				Links map[string]struct {
					Href string `json:"href"`
				} `json:"links"`
			} `json:"_meta"`
		}](c, "/v2/persons/"+p.ID+"/employments") {
			if got, want := e.Meta.Links["person"].Href, s.URL()+"/v2/persons/"+p.ID; got != want {
				t.Fatalf("employment %s: person link %q, want %q", e.ID, got, want)
			}
			if e.Supervisor != nil {
				supervised++
				href := e.Meta.Links["supervisor"].Href
				var sup personLinks
				if resp, body := c.get(href); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &sup) != nil || sup.ID != e.Supervisor.ID {
					t.Fatalf("employment %s: supervisor link %q: %d %s", e.ID, href, resp.StatusCode, body)
				}
			}
		}
	}
	if supervised == 0 {
		t.Fatal("no employment has a supervisor")
	}
}
