package main

import (
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
