//go:build integration

package suite

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// TestIntegrationCrashAuditCatches feeds the audit topics with known defects and checks that
// it reports each one: an audit that cannot fail would prove nothing.
func TestIntegrationCrashAuditCatches(t *testing.T) {
	const topic = "t.persons"
	key := func(id string) *string { k := tenant + ":" + id; return &k }
	ev := func(id string, offset int64, op, eventID string, version int, name string) integration.VerifiedRecord {
		v := map[string]any{"event_id": eventID, "op": op, "version": json.Number(fmt.Sprint(version)),
			"before": nil, "after": map[string]any{"id": id, "last_name": name}, "changed_fields": []any{}}
		if op == "d" {
			v["after"] = nil
		}
		return integration.VerifiedRecord{Topic: topic, Offset: offset, Key: key(id),
			Headers: map[string]string{"event_id": eventID, "op": op}, Value: v}
	}
	tomb := func(id string, offset int64) integration.VerifiedRecord {
		return integration.VerifiedRecord{Topic: topic, Offset: offset, Key: key(id)}
	}
	// Person 1 is in the truth of both epochs; person 2 was deleted by the churn before epoch 1.
	epochs := []epoch{
		{start: offsets{topic: {0: 0}}, keys: map[change.Entity]map[string]bool{change.Persons: {*key("1"): true, *key("2"): true}}},
		{start: offsets{topic: {0: 3}}, keys: map[change.Entity]map[string]bool{change.Persons: {*key("1"): true}}},
	}
	deleted := map[string]bool{"2": true}

	cases := []auditCase{
		{"clean", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("2", 1, "c", "b", 1, "Y"),
			ev("1", 2, "u", "c", 2, "Z"), ev("2", 3, "d", "d", 2, ""), tomb("2", 4)}, ""},
		{"consistent duplicate", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "c", "a", 1, "X")}, ""},
		{"false delete of a person in the truth", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"),
			ev("1", 3, "d", "b", 2, ""), tomb("1", 4)}, "FALSE DELETE"},
		{"delete published before the churn deleted the person", []integration.VerifiedRecord{ev("2", 0, "c", "a", 1, "X"),
			ev("2", 1, "d", "b", 2, ""), tomb("2", 2)}, "FALSE DELETE"},
		{"version gap", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "u", "b", 3, "Y")}, "version 3 after 1"},
		{"first version not 1", []integration.VerifiedRecord{ev("1", 0, "c", "a", 2, "X")}, "first version 2"},
		{"duplicate with another event id", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "c", "b", 1, "X")}, "with event_id b"},
		{"duplicate with other content", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "c", "a", 1, "Y")}, "different content"},
		{"stale duplicate", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "u", "b", 2, "Y"),
			ev("1", 2, "c", "a", 1, "X")}, "repeated after version 2"},
		{"one event id for two events", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "u", "a", 2, "Y")}, "names two different events"},
		{"delete without tombstone", []integration.VerifiedRecord{ev("2", 3, "c", "a", 1, "X"), ev("2", 4, "d", "b", 2, "")}, "without its tombstone"},
		{"update of a key that is not live", []integration.VerifiedRecord{ev("1", 0, "u", "a", 1, "X")}, "u for a key that is not live"},
		{"create of a live key", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), ev("1", 1, "c", "b", 2, "Y")}, "c for a live key"},
		{"before is not the previous after", []integration.VerifiedRecord{ev("1", 0, "c", "a", 1, "X"), func() integration.VerifiedRecord {
			r := ev("1", 1, "u", "b", 2, "Z")
			r.Value["before"] = map[string]any{"id": "1", "last_name": "Y"}
			return r
		}()}, "before is not the key's previous after"},
		{"header disagrees", []integration.VerifiedRecord{func() integration.VerifiedRecord {
			r := ev("1", 0, "c", "a", 1, "X")
			r.Headers["event_id"] = "z"
			return r
		}()}, "do not match"},
	}
	checkAuditCases(t, topic, change.Persons, cases, epochs, deleted)
}

// TestIntegrationCrashAuditCatchesEmploymentDeletes checks the employments topic's false-delete
// rule: an employment may be deleted only once it left the truth, and only with its person
// (the churn deletes no employment alone).
func TestIntegrationCrashAuditCatchesEmploymentDeletes(t *testing.T) {
	const topic = "t.employments"
	key := func(id string) *string { k := tenant + ":" + id; return &k }
	emp := func(id, person string) map[string]any {
		return map[string]any{"id": id, "person_id": person, "status": "ACTIVE"}
	}
	ev := func(id, person string, offset int64, op, eventID string, version int) integration.VerifiedRecord {
		v := map[string]any{"event_id": eventID, "op": op, "version": json.Number(fmt.Sprint(version)),
			"before": nil, "after": emp(id, person), "changed_fields": []any{}}
		if op == "d" {
			v["before"], v["after"] = emp(id, person), nil
		}
		return integration.VerifiedRecord{Topic: topic, Offset: offset, Key: key(id),
			Headers: map[string]string{"event_id": eventID, "op": op}, Value: v}
	}
	tomb := func(id string, offset int64) integration.VerifiedRecord {
		return integration.VerifiedRecord{Topic: topic, Offset: offset, Key: key(id)}
	}
	// Employment e1 of person 1 is in the truth of both epochs; e2 of person 2 left it when the
	// churn deleted person 2; e3 of person 1 left it without its person (not a churn the
	// simulator makes: a delete of it is false).
	epochs := []epoch{
		{start: offsets{topic: {0: 0}}, keys: map[change.Entity]map[string]bool{change.Employments: {*key("e1"): true, *key("e2"): true, *key("e3"): true}}},
		{start: offsets{topic: {0: 3}}, keys: map[change.Entity]map[string]bool{change.Employments: {*key("e1"): true}}},
	}
	deleted := map[string]bool{"2": true}
	cases := []auditCase{
		{"delete with its person", []integration.VerifiedRecord{ev("e1", "1", 0, "c", "a", 1), ev("e2", "2", 1, "c", "b", 1),
			ev("e2", "2", 3, "d", "c", 2), tomb("e2", 4)}, ""},
		{"delete while in the truth", []integration.VerifiedRecord{ev("e1", "1", 0, "c", "a", 1),
			ev("e1", "1", 3, "d", "b", 2), tomb("e1", 4)}, "FALSE DELETE: the key is in the truth"},
		{"delete of a living person's employment", []integration.VerifiedRecord{ev("e3", "1", 0, "c", "a", 1),
			ev("e3", "1", 3, "d", "b", 2), tomb("e3", 4)}, "FALSE DELETE: the churn never deleted the employment's person"},
	}
	checkAuditCases(t, topic, change.Employments, cases, epochs, deleted)
}

// auditCase is a topic's records and the defect the audit must report in them ("" for a clean
// topic).
type auditCase struct {
	name string
	recs []integration.VerifiedRecord
	want string
}

// checkAuditCases runs the audit of one entity's topic (checkTopic) over each case: a clean
// topic reports nothing, a defect is reported with its words.
func checkAuditCases(t *testing.T, topic string, entity change.Entity, cases []auditCase, epochs []epoch, deleted map[string]bool) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			errorf := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
			checkTopic(errorf, topic, tenant, entity, tc.recs, epochs, deleted)
			all := strings.Join(got, "\n")
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("clean topic reported:\n%s", all)
			case tc.want != "" && !strings.Contains(all, tc.want):
				t.Errorf("defect not reported as %q; got:\n%s", tc.want, all)
			}
		})
	}
}
