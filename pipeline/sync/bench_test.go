package sync

import (
	"testing"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// BenchmarkSyncNoChange measures a full sync of 500 persons that finds nothing to publish:
// the listing (HTTP to the simulator, no rate limit), normal form, hashing and diffing.
func BenchmarkSyncNoChange(b *testing.B) {
	h := newHarness(b, 500)
	r := h.runner()
	if _, err := r.Run(b.Context(), Full); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := r.Run(b.Context(), Full)
		if err != nil || res.Published() != 0 {
			b.Fatalf("published %d: %v", res.Published(), err)
		}
	}
}

// BenchmarkSyncRestart measures a restarted service's first sync of 500 persons: the state
// rebuild from the topics (in-process Kafka) and a full sync without changes.
func BenchmarkSyncRestart(b *testing.B) {
	h := newHarness(b, 500)
	if _, err := h.runner().Run(b.Context(), Full); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := h.runner().Run(b.Context(), Full)
		if err != nil || !res.Rebuilt || res.Published() != 0 {
			b.Fatalf("rebuilt %v, published %d: %v", res.Rebuilt, res.Published(), err)
		}
	}
}

// BenchmarkSyncInitial measures the initial sync of 500 persons and their compensations into
// empty topics: everything is created, encoded, produced and acknowledged.
func BenchmarkSyncInitial(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, 500)
		r := h.runner()
		b.StartTimer()
		res, err := r.Run(b.Context(), Full)
		if err != nil || res.Published() < 500 {
			b.Fatalf("published %d: %v", res.Published(), err)
		}
	}
}

// BenchmarkSyncNoChangePolicy is BenchmarkSyncNoChange under a field policy that hashes the
// e-mail address and drops the IBAN: every person then takes the general normal form.
func BenchmarkSyncNoChangePolicy(b *testing.B) {
	pol, err := change.ParsePolicy([]byte("persons:\n  email: hash\n  custom_attributes.dynamic_1207: drop\n"),
		[]byte("a hash key of thirty-two bytes!!"))
	if err != nil {
		b.Fatal(err)
	}
	h := newHarness(b, 500)
	r := h.runner(func(c *Config) { c.FieldPolicy = pol })
	if _, err := r.Run(b.Context(), Full); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := r.Run(b.Context(), Full)
		if err != nil || res.Published() != 0 {
			b.Fatalf("published %d: %v", res.Published(), err)
		}
	}
}
