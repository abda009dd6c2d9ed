package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkDelivery measures the handler's cost per accepted delivery (bytes and allocations
// per op), cycling over 1,000 persons so that most deliveries coalesce as in a burst.
func BenchmarkDelivery(b *testing.B) {
	r, err := New(Options{Token: testToken, Path: testPath, QueueSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	h := r.Handler()
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = delivery("employment.updated", fmt.Sprintf(`{"id":"e-%d","person":{"id":"%d"}}`, i, 1000000+i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, testPath, strings.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Authorization", testToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
