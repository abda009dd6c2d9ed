package codec

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func TestNewRegistryValidation(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		opts    []RegistryOption
		wantErr string
	}{
		{name: "ok", url: "http://localhost:8081"},
		{name: "ok with path", url: "https://sr.example/apis/ccompat/v7"},
		{name: "no scheme", url: "localhost:8081", wantErr: "scheme"},
		{name: "ftp", url: "ftp://x", wantErr: "scheme"},
		{name: "no host", url: "http://", wantErr: "host"},
		{name: "both auths", url: "http://x", opts: []RegistryOption{WithBasicAuth("u", "p"), WithBearerToken("t")}, wantErr: "mutually exclusive"},
		{name: "bad level", url: "http://x", opts: []RegistryOption{WithCompatibility("SOMETIMES")}, wantErr: "compatibility"},
		{name: "bad timeout", url: "http://x", opts: []RegistryOption{WithTimeout(-1)}, wantErr: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRegistry(tt.url, tt.opts...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterCachesAndSetsCompatibility(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	var posts atomic.Int32
	fake.Intercept(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		return false
	})
	schema := mustSchema(t, "payment_v1.avsc")
	subject := Subject("test.cache")
	id1, err := reg.Register(ctx, subject, schema)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := reg.Register(ctx, subject, schema)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || posts.Load() != 1 {
		t.Fatalf("ids %d/%d after %d POSTs; want equal ids and one POST", id1, id2, posts.Load())
	}
	// The registry must hold the full schema (defaults included), not the
	// canonical form, or later optional fields could not be checked.
	got, ok := fake.GetSchema(subject, 1)
	if !ok || !strings.Contains(got.Schema.Schema, `"default":null`) {
		t.Fatalf("registered schema = %q, want defaults kept", got.Schema.Schema)
	}
	// Compatibility was set on the subject (srfake answers compatibilityLevel).
	resp, err := http.Get(fake.URL() + "/config/" + subject)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "BACKWARD_TRANSITIVE") {
		t.Fatalf("subject config = %s, want BACKWARD_TRANSITIVE", body)
	}
	// The id→schema cache answers without the registry.
	fake.Close()
	if s, err := reg.SchemaByID(ctx, id1); err != nil || s.Fingerprint() != schema.Fingerprint() {
		t.Fatalf("SchemaByID from cache = %v, %v", s, err)
	}
}

func TestRegisterToleratesRefusedConfigAndReadOnlyCredentials(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	schema := mustSchema(t, "plain.avsc")
	subject := Subject("test.readonly")
	text, err := schema.(interface{ MarshalJSON() ([]byte, error) }).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	wantID, _, err := fake.RegisterSchema(subject, sr.Schema{Schema: string(text)})
	if err != nil {
		t.Fatal(err)
	}
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut || (r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions")) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error_code":40301,"message":"forbidden"}`)
			return true
		}
		return false
	})
	id, err := reg.Register(ctx, subject, schema)
	if err != nil {
		t.Fatal(err)
	}
	if id != wantID {
		t.Fatalf("id = %d, want %d (looked up)", id, wantID)
	}
}

func TestRegistryErrorClassification(t *testing.T) {
	schema := mustSchema(t, "plain.avsc")
	tests := []struct {
		name      string
		status    int
		body      string
		sentinel  error
		retryable bool
	}{
		{name: "incompatible", status: 409, body: `{"error_code":409,"message":"incompatible"}`, sentinel: ErrIncompatible},
		{name: "invalid schema", status: 422, body: `{"error_code":42201,"message":"invalid"}`, sentinel: ErrInvalidSchema},
		{name: "unauthorized", status: 401, body: `{"error_code":401,"message":"no"}`},
		{name: "internal error", status: 500, body: `{"error_code":50001,"message":"store"}`, retryable: true},
		{name: "unavailable", status: 503, body: `oops`, retryable: true},
		{name: "rate limited", status: 429, body: ``, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					w.WriteHeader(http.StatusOK)
					return
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			reg, err := NewRegistry(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = reg.Register(t.Context(), "s-value", schema)
			var re *RegistryError
			if !errors.As(err, &re) || re.Status != tt.status {
				t.Fatalf("err = %v, want *RegistryError with status %d", err, tt.status)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v, want %v", err, tt.sentinel)
			}
			if Retryable(err) != tt.retryable {
				t.Fatalf("Retryable(%v) = %v, want %v", err, Retryable(err), tt.retryable)
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		reg, err := NewRegistry(url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = reg.Register(t.Context(), "s-value", schema)
		if err == nil || !Retryable(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
		if err := reg.Ping(t.Context()); err == nil || !Retryable(err) {
			t.Fatalf("Ping = %v, want a retryable error", err)
		}
	})
}

func TestCheckCompatible(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	schema := mustSchema(t, "payment_v1.avsc")
	subject := Subject("test.compat")
	if err := reg.CheckCompatible(ctx, subject, schema); err != nil {
		t.Fatalf("fresh subject: %v", err)
	}
	if _, err := reg.Register(ctx, subject, schema); err != nil {
		t.Fatal(err)
	}
	if err := reg.CheckCompatible(ctx, subject, mustSchema(t, "payment_v2.avsc")); err != nil {
		t.Fatalf("compatible: %v", err)
	}
	// srfake's compatibility check always agrees; answer as a registry
	// that disagrees would.
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/compatibility/") {
			_, _ = io.WriteString(w, `{"is_compatible":false}`)
			return true
		}
		return false
	})
	err := reg.CheckCompatible(ctx, subject, mustSchema(t, "incompatible.avsc"))
	if !errors.Is(err, ErrIncompatible) || Retryable(err) {
		t.Fatalf("err = %v, want non-retryable ErrIncompatible", err)
	}
}

func TestRegistryAuth(t *testing.T) {
	schema := mustSchema(t, "plain.avsc")
	tests := []struct {
		name   string
		expect string
		opt    RegistryOption
	}{
		{name: "basic", expect: "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa:ss")), opt: WithBasicAuth("user", "pa:ss")},
		{name: "bearer", expect: "Bearer tok3n", opt: WithBearerToken("tok3n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := srfake.New(srfake.WithAuth(tt.expect))
			defer fake.Close()
			reg, err := NewRegistry(fake.URL(), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.Register(t.Context(), "auth-value", schema); err != nil {
				t.Fatalf("with credentials: %v", err)
			}
			if err := reg.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			anon, err := NewRegistry(fake.URL())
			if err != nil {
				t.Fatal(err)
			}
			if err := anon.Ping(t.Context()); err == nil {
				t.Fatal("Ping without credentials succeeded")
			}
		})
	}
}
