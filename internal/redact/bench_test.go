package redact_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/redact"
)

// BenchmarkHandler logs a record shaped like the runner's end-of-sync line (strings, numbers,
// a duration, a list of error codes, an error) through a JSON handler, without and with the
// redactor in front of it.
func BenchmarkHandler(b *testing.B) {
	args := []any{"sync_id", "01JEXAMPLE", "kind", "full", "outcome", "partial", "published", 1234,
		"duration", 2 * time.Second, "errors", []string{"personio.http_5xx entity=persons", "diff.conflict entity=compensations"},
		"err", errors.New("sync: compensations 2026-11: listing broke off")}
	for _, bc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"plain", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"redacted", redact.New("client-secret-value", "sasl-password").Logger(slog.New(slog.NewJSONHandler(io.Discard, nil)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.log.Info("sync finished", args...)
			}
		})
	}
}
