package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSyncRedactsSecretEchoedByRegistry: a schema registry that echoes the password in an error
// message (here when asked to set a subject's compatibility, which the service only warns
// about) must not get it into the log or the command's output.
func TestSyncRedactsSecretEchoedByRegistry(t *testing.T) {
	w := newWorld(t)
	target, err := url.Parse(w.env["SCHEMA_REGISTRY_URL"])
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var echoed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/config/") {
			echoed.Add(1)
			rw.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			rw.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintf(rw, `{"error_code":42203,"message":"user %s with password %s may not change the compatibility"}`,
				testRegistryUser, testRegistryPass)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)

	code, out, errOut := invoke(t.Context(), w.with("SCHEMA_REGISTRY_URL", srv.URL), "sync", "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if echoed.Load() == 0 {
		t.Fatal("the service never asked to set a compatibility level: the test does not test anything")
	}
	if !strings.Contains(errOut, "may not change the compatibility") {
		t.Errorf("the registry's warning is not logged at all:\n%s", errOut)
	}
	assertNoSecrets(t, "stdout", out)
	assertNoSecrets(t, "stderr", errOut)
}

// TestSyncOutputCarriesNoPersonalData: a Personio error body that echoes a person's name,
// e-mail address and id reaches neither the result `sync --output json` prints nor the log;
// the result names the error by its code, entity, HTTP status and route instead.
func TestSyncOutputCarriesNoPersonalData(t *testing.T) {
	w := newWorld(t)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v2/persons" {
			rw.Header().Set("Content-Type", "application/problem+json")
			rw.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(rw, `{"personio_trace_id":"c0ffee-1","errors":[{"title":"Jane Doe (4242424) cannot be listed",`+
				`"detail":"person 4242424 Jane Doe <jane.doe@example.com> cannot be listed","type":"persons.invalid"}]}`)
			return
		}
		w.sim.Handler().ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)

	code, out, errOut := invoke(t.Context(), w.with("PERSONIO_BASE_URL", srv.URL), "sync", "--output", "json")
	if code != exitError {
		t.Fatalf("exit %d, want %d (a partial sync)\nstdout:\n%s\nstderr:\n%s", code, exitError, out, errOut)
	}
	for where, text := range map[string]string{"stdout": out, "stderr": errOut} {
		for _, pd := range []string{"Jane", "Doe", "jane.doe", "example.com", "4242424", "cannot be listed"} {
			if strings.Contains(text, pd) {
				t.Errorf("%s carries %q:\n%s", where, pd, text)
			}
		}
	}
	var res struct {
		ErrorDetails []struct {
			Code       string `json:"code"`
			Entity     string `json:"entity"`
			HTTPStatus int    `json:"http_status"`
			Endpoint   string `json:"endpoint"`
		} `json:"error_details"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, out)
	}
	found := false
	for _, d := range res.ErrorDetails {
		found = found || (d.Code == "personio.http_422" && d.Entity == "persons" && d.HTTPStatus == 422 && d.Endpoint == "GET /v2/persons")
	}
	if !found {
		t.Errorf("error_details %+v lack the persons listing's 422", res.ErrorDetails)
	}
}
