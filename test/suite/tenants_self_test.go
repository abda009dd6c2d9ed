//go:build integration

package suite

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// TestIntegrationTenantsAuditCatches feeds the multi-tenant checks of TestIntegrationTenantsGroup
// records with known defects: an audit that cannot fail would prove nothing. It needs no
// environment.
func TestIntegrationTenantsAuditCatches(t *testing.T) {
	const topic = "t.persons"
	frozenAt := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	syncID := func(at time.Time, suffix string) string { return at.Format("20060102T150405.000Z") + "-" + suffix }
	early, lateSync := syncID(frozenAt.Add(-2*time.Second), "aaaa0001"), syncID(frozenAt.Add(20*time.Second), "aaaa0002")
	ev := func(tenantName, id string, offset int64, eventID string, version int, sync string) integration.VerifiedRecord {
		k := tenantName + ":" + id
		v := map[string]any{"event_id": eventID, "op": "c", "version": json.Number(fmt.Sprint(version)),
			"before": nil, "after": map[string]any{"id": id}, "changed_fields": []any{},
			"source": map[string]any{"tenant": tenantName, "sync_id": sync}}
		if version > 1 {
			v["op"] = "u"
		}
		return integration.VerifiedRecord{Topic: topic, Offset: offset, Key: &k,
			Headers: map[string]string{"event_id": eventID, "op": v["op"].(string)}, Value: v}
	}
	known := func(name string) bool { return name == "t01" || name == "t02" }
	epochs := []epoch{{start: offsets{}, keys: map[change.Entity]map[string]bool{change.Persons: {}}}}

	// The same person id in two tenants is two keys: version 1 each is no duplicate, and a gap
	// in one tenant is that tenant's alone.
	recs := []integration.VerifiedRecord{ev("t01", "1", 0, "a", 1, early), ev("t02", "1", 1, "b", 1, early),
		ev("t02", "1", 2, "c", 3, early)}
	split := splitTenants(func(f string, a ...any) { t.Errorf("clean keys reported: "+f, a...) }, recs, known)
	for name, want := range map[string]string{"t01": "", "t02": "version 3 after 1"} {
		var got []string
		checkTopic(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) }, topic, name, change.Persons,
			split[name], epochs, map[string]bool{})
		all := strings.Join(got, "\n")
		switch {
		case want == "" && all != "":
			t.Errorf("tenant %s: clean records reported:\n%s", name, all)
		case want != "" && !strings.Contains(all, want):
			t.Errorf("tenant %s: defect not reported as %q; got:\n%s", name, want, all)
		}
	}

	// A key of no configured tenant is an invented event.
	var got []string
	splitTenants(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) },
		[]integration.VerifiedRecord{ev("t03", "1", 3, "d", 1, early)}, known)
	if all := strings.Join(got, "\n"); !strings.Contains(all, "belongs to no configured tenant") {
		t.Errorf("a foreign key was not reported; got %q", all)
	}

	// The fence: a sync begun before the freeze may have written before it (offsets below the
	// end offsets taken after the freeze), never after; a sync begun after waking may write.
	frozen := offsets{topic: {0: 10}}
	ids := map[string]bool{early: true, lateSync: true}
	for _, tc := range []struct {
		name string
		rec  integration.VerifiedRecord
		want string
	}{
		{"written before the freeze", ev("t01", "1", 9, "e", 1, early), ""},
		{"written after the freeze", ev("t01", "1", 10, "f", 1, early), "the fence did not hold"},
		{"a sync begun after waking", ev("t01", "1", 11, "g", 1, lateSync), ""},
		{"another instance's sync", ev("t01", "1", 12, "h", 1, syncID(frozenAt.Add(-time.Second), "bbbb0001")), ""},
	} {
		var got []string
		lateWrites(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) },
			[]integration.VerifiedRecord{tc.rec}, ids, frozenAt, frozen)
		all := strings.Join(got, "\n")
		switch {
		case tc.want == "" && all != "":
			t.Errorf("%s: reported:\n%s", tc.name, all)
		case tc.want != "" && !strings.Contains(all, tc.want):
			t.Errorf("%s: not reported as %q; got %q", tc.name, tc.want, all)
		}
	}
}
