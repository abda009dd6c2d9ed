package diff_test

import (
	"testing"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

// BenchmarkFinishCompensations: a complete listing of the last 3 of 24 stored months, 500
// compensations a month, unchanged. Finish decodes every stored compensation to know which
// lie inside the listed windows (the guards' denominator).
func BenchmarkFinishCompensations(b *testing.B) {
	st, recent, windows := monthsOfSalaries(b, 24, 500)
	listing := make([]change.Record, 0, len(recent))
	for _, c := range recent {
		listing = append(listing, c)
	}
	d, err := diff.New(diff.WithClock(clock))
	if err != nil {
		b.Fatal(err)
	}
	src := change.Source{Tenant: "acme", SyncID: "s1", SyncKind: string(change.Full), ExtractedAt: clock()}
	b.ReportAllocs()
	for b.Loop() {
		res, err := d.Diff(st, change.Compensations, src, listing, diff.Scope{Complete: true, Contains: diff.EffectiveIn(windows...)})
		if err != nil || len(res.Events) != 0 {
			b.Fatalf("events %d, err %v", len(res.Events), err)
		}
	}
}
