//go:build integration

package codec

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIntegrationRegistry runs the registry client against the real
// Confluent-compatible registry of the test environment:
//
//	. .testenv/env && go test -tags integration -run Integration ./internal/codec/
func TestIntegrationRegistry(t *testing.T) {
	url := os.Getenv("SCHEMA_REGISTRY_URL")
	if url == "" {
		t.Fatal("SCHEMA_REGISTRY_URL is not set: start the test environment (scripts/testenv up) and source .testenv/env")
	}
	ctx := t.Context()
	reg, err := NewRegistry(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	subject := Subject("it.codec." + strconv.FormatInt(time.Now().UnixNano(), 36))
	v1, v2 := mustSchema(t, "payment_v1.avsc"), mustSchema(t, "payment_v2.avsc")

	if err := reg.CheckCompatible(ctx, subject, v1); err != nil {
		t.Fatalf("CheckCompatible on a new subject: %v", err)
	}
	id1, err := reg.Register(ctx, subject, v1)
	if err != nil {
		t.Fatal(err)
	}
	// Registering the same schema again (fresh client, no cache) keeps the id.
	reg2, err := NewRegistry(url)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := reg2.Register(ctx, subject, v1); err != nil || again != id1 {
		t.Fatalf("re-register = %d, %v; want %d", again, err, id1)
	}
	// Register set the subject's level (Apicurio, like srfake, answers in
	// "compatibilityLevel", Confluent in "compatibility").
	resp, err := http.Get(url + "/config/" + subject)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"`+CompatibilityBackwardTransitive+`"`) {
		t.Fatalf("subject config = %s, want %s", body, CompatibilityBackwardTransitive)
	}

	// Adding an optional field is backward compatible.
	if err := reg.CheckCompatible(ctx, subject, v2); err != nil {
		t.Fatalf("CheckCompatible(v2): %v", err)
	}
	id2, err := reg.Register(ctx, subject, v2)
	if err != nil {
		t.Fatal(err)
	}

	// Changing a field's type is not.
	bad := mustSchema(t, "incompatible.avsc")
	if err := reg.CheckCompatible(ctx, subject, bad); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("CheckCompatible(incompatible) = %v, want ErrIncompatible", err)
	}
	if _, err := reg.Register(ctx, subject, bad); !errors.Is(err, ErrIncompatible) || Retryable(err) {
		t.Fatalf("Register(incompatible) = %v, want non-retryable ErrIncompatible", err)
	}

	// Round trip and evolution through the real registry.
	c := New(reg2)
	data, err := New(reg).Encode(id1, v1, samplePayment(t))
	if err != nil {
		t.Fatal(err)
	}
	var out paymentV2
	if err := c.Decode(ctx, data, v2, &out); err != nil {
		t.Fatal(err)
	}
	assertPaymentEqual(t, samplePayment(t), &out.payment)
	if _, err := reg2.SchemaByID(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if _, err := reg2.SchemaByID(ctx, 987654321); !errors.Is(err, ErrUnknownSchemaID) {
		t.Fatalf("unknown id: %v", err)
	}
}
