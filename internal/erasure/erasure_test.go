package erasure

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

type records []kafka.Record

func (rs records) ReadToEnd(_ context.Context, _ string, fn func(kafka.Record) error) error {
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func TestReadFoldsErasuresAndLifts(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	mark := func(tenant, person string) kafka.Record {
		m, err := Mark("p.erasures", tenant, person, Entry{ErasedAt: at, Reason: "art. 17"})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Record{Key: m.Key, Value: m.Value}
	}
	lift := func(tenant, person string) kafka.Record {
		m, err := Lift("p.erasures", tenant, person)
		if err != nil {
			t.Fatal(err)
		}
		if m.Value != nil {
			t.Fatal("a lift must be a tombstone")
		}
		return kafka.Record{Key: m.Key}
	}
	l, err := Read(t.Context(), records{
		mark("acme", "1"), mark("acme", "2"), lift("acme", "1"), mark("beta", "1"),
		{Key: []byte("acme:3"), Value: []byte("not json")}, // fails closed: still erased
		{Key: []byte("no-colon"), Value: []byte("{}")},
		mark("acme", "4"), lift("acme", "4"), mark("acme", "4"), // erased again
	}, "p.erasures")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tenant, person string
		want           bool
	}{{"acme", "1", false}, {"acme", "2", true}, {"beta", "1", true}, {"acme", "3", true}, {"acme", "4", true}, {"beta", "2", false}} {
		if got := l.Erased(c.tenant, c.person); got != c.want {
			t.Errorf("Erased(%s, %s) = %v, want %v", c.tenant, c.person, got, c.want)
		}
	}
	if l.Ignored != 1 {
		t.Errorf("ignored %d records, want 1", l.Ignored)
	}
	if e, ok := l.Entry("acme:2"); !ok || !e.ErasedAt.Equal(at) || e.Reason != "art. 17" {
		t.Errorf("entry %+v", e)
	}
	prev := &List{entries: map[string]Entry{"acme:2": {}}}
	if got := l.Since(prev).Keys(); len(got) != 3 || got[0] != "acme:3" {
		t.Errorf("Since = %v, want acme:3 acme:4 beta:1", got)
	}
	if got := l.Since(nil).Len(); got != 4 {
		t.Errorf("Since(nil) holds %d, want every erasure (4)", got)
	}
	var none *List
	if none.Erased("acme", "2") || none.Len() != 0 {
		t.Error("a nil List must be empty")
	}
}

func TestKeyRejectsBadArguments(t *testing.T) {
	for _, c := range [][2]string{{"", "1"}, {"a:b", "1"}, {"acme", ""}, {"acme", " 1"}, {"acme", "1\n"}} {
		if _, err := Key(c[0], c[1]); !errors.Is(err, ErrBadArgument) {
			t.Errorf("Key(%q, %q) = %v, want ErrBadArgument", c[0], c[1], err)
		}
	}
	if k, err := Key("acme", "1000426"); err != nil || k != "acme:1000426" {
		t.Errorf("Key = %q, %v", k, err)
	}
	if _, err := Mark("t", "acme", "1", Entry{}); !errors.Is(err, ErrBadArgument) {
		t.Errorf("a mark without time: %v", err)
	}
}
