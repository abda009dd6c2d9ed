package state

import (
	"context"
	"fmt"
	"testing"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// countingSource replays n records and, before each, checks how many entries of the store
// are still uncompressed.
type countingSource struct {
	n       int
	store   *Memory
	maxRaw  int // the most uncompressed entries seen
	atCheck int // records between two checks
}

func (c *countingSource) Replay(ctx context.Context, fn func(string, []byte) error) error {
	for i := range c.n {
		if i%c.atCheck == 0 {
			raw := 0
			c.store.Range(change.Persons, func(_ string, e Entry) bool {
				if !e.Compacted() {
					raw++
				}
				return true
			})
			c.maxRaw = max(c.maxRaw, raw)
		}
		if err := fn(fmt.Sprintf("acme:%d", i), []byte(fmt.Sprint(i))); err != nil {
			return err
		}
	}
	return nil
}

// TestRebuildCompactsAsItReads: a rebuild compresses the entries it has read as it goes, so
// that it never holds more than rebuildCompactEvery records uncompressed, rather than the
// whole topic until its end (the rebuild of 100,000 persons and their compensations then
// peaked near 1 GB).
func TestRebuildCompactsAsItReads(t *testing.T) {
	const n = 5*rebuildCompactEvery + 7
	m := NewMemory()
	src := &countingSource{n: n, store: m, atCheck: 1000}
	dec := func(key string, value []byte) (Entry, error) {
		// A record of about 300 bytes that shares most of its bytes with the others.
		data := fmt.Appendf(nil, "%s|%0300s", key, value)
		return EntryFromData(1, change.Hash{1}, data), nil
	}
	st, err := Rebuild(context.Background(), m, change.Persons, src, dec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Live != n {
		t.Fatalf("%d live entries, want %d", st.Live, n)
	}
	if src.maxRaw > rebuildCompactEvery {
		t.Errorf("up to %d entries uncompressed during the rebuild, want at most %d", src.maxRaw, rebuildCompactEvery)
	}
	raw := 0
	m.Range(change.Persons, func(key string, e Entry) bool {
		if !e.Compacted() {
			raw++
		}
		return true
	})
	if raw != 0 {
		t.Errorf("%d entries uncompressed after the rebuild", raw)
	}
	e, ok := m.Get(change.Persons, "acme:12345")
	if !ok {
		t.Fatal("acme:12345 missing")
	}
	if got, err := e.RecordData(change.Persons); err != nil || string(got) != fmt.Sprintf("acme:12345|%0300s", "12345") {
		t.Errorf("acme:12345 reads back %.40q…: %v", got, err)
	}
}
