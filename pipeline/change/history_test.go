package change_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// recordHistory rewrites testdata/history.golden.json. Only a deliberate change of the wire
// format may do that, and it changes the content hash (and so the event id) of every record
// whose line changes: after an upgrade every such key would look changed.
var recordHistory = flag.Bool("record-history", false, "rewrite testdata/history.golden.json")

// historyLine is what the topics and the state hold of one record: the sha256 of its Avro
// encoding, its content hash, and the sha256 of the wire-format value (header and envelope)
// the publisher sends for an event carrying it.
type historyLine struct {
	Name     string `json:"name"`
	Record   string `json:"record_sha256"`
	Hash     string `json:"content_hash"`
	Envelope string `json:"envelope_sha256"`
}

// TestEncodingMatchesRecordedHistory holds the record encoding, the content hash and the
// published envelope to the bytes recorded in testdata/history.golden.json (recorded with the
// hand-written encoders of commit ff03331): records in normal form drawn from a fixed seed
// (edge values of every type: decimals at the byte boundaries of their encoding and at full
// precision, dates before 1970, arrays of more than one block, long and non-ASCII text), and
// persons as Personio sends them, in every notation the normal form accepts, put into normal
// form by a Normalizer. A change of any of them would republish or re-hash what the topics
// already hold.
func TestEncodingMatchesRecordedHistory(t *testing.T) {
	var got []historyLine
	add := func(name string, ev change.Event) {
		rec := ev.After
		data, err := change.MarshalRecord(rec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h, err := change.ContentHash(rec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ev.Key, ev.ID, ev.Hash = change.Key(ev.Source.Tenant, rec.RecordID()), rec.RecordID(), h
		ev.EventID = change.EventID(ev.Key, ev.Entity, ev.Version, ev.Op, h)
		value := historyEnvelope(t, ev)
		sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
		got = append(got, historyLine{Name: name, Record: sum(data), Hash: h.String(), Envelope: sum(value)})
	}
	rng := rand.New(rand.NewPCG(13, 2026))
	var prev change.Record
	for i := range 120 {
		ev := historyEvent(rng, i)
		ev.Entity, ev.After = change.Persons, genPerson(rng, i)
		if ev.Op == change.Update && i%4 == 0 {
			ev.Before = prev
		}
		add("person/"+strconv.Itoa(i), ev)
		prev = ev.After
	}
	prev = nil
	for i := range 120 {
		ev := historyEvent(rng, i)
		ev.Entity, ev.After = change.Compensations, genCompensation(rng, i)
		if ev.Op == change.Update && i%4 == 0 && prev != nil {
			ev.Before = prev
		}
		add("compensation/"+strconv.Itoa(i), ev)
		prev = ev.After
	}
	var norm change.Normalizer
	for i := range 120 {
		p, emps := genListed(rng, i)
		rec, err := norm.Person(p, emps)
		if err != nil {
			t.Fatalf("listed/%d: %v", i, err)
		}
		ev := historyEvent(rng, i)
		ev.Entity, ev.After = change.Persons, rec
		add("listed/"+strconv.Itoa(i), ev)
	}

	const file = "testdata/history.golden.json"
	if *recordHistory {
		b, _ := json.MarshalIndent(got, "", " ")
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want []historyLine
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, the history has %d", len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			bad++
			if bad <= 5 {
				t.Errorf("%s differs from the recorded history:\n got %+v\nwant %+v", got[i].Name, got[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records differ from the recorded history", bad, len(got))
	}
}

// historyEnvelope returns the wire-format value the publisher sends for ev.
func historyEnvelope(t *testing.T, ev change.Event) []byte {
	t.Helper()
	schema, err := schemas.Parse(string(ev.Entity))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ev.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	value, err := codec.New(nil).Encode(4242, schema, env)
	if err != nil {
		t.Fatal(err)
	}
	return value
}

func historyEvent(rng *rand.Rand, i int) change.Event {
	ev := change.Event{
		Op: change.Create, Version: 1 + int64(i%3), TS: time.UnixMilli(1_764_000_000_000 + int64(i)*1001).UTC(),
		Source: change.Source{Tenant: "acme", System: change.System, SyncID: "sync-" + strconv.Itoa(i),
			SyncKind: string(change.Full), ExtractedAt: time.UnixMilli(1_764_000_000_000 + rng.Int64N(1e9)).UTC()},
	}
	if i%2 == 0 {
		ev.Op = change.Update
		ev.ChangedFields = []string{"email", "employments." + strconv.Itoa(i) + ".status"}
		if i%10 == 0 {
			for k := range 130 { // two blocks
				ev.ChangedFields = append(ev.ChangedFields, "custom_attributes.dynamic_"+strconv.Itoa(k))
			}
		}
		u := time.UnixMilli(1_700_000_000_000 + rng.Int64N(1e10)).UTC()
		ev.Source.EntityUpdatedAt = &u
	}
	return ev
}

var historyTexts = []string{"Ada", "", " ", "Zoë Ægir-Łukasiewicz", "日本語のテキスト", "a\x00b\tc",
	strings.Repeat("long text ", 30), "ACTIVE", "https://example.com/p.png?x=1&y=2"}

func genText(rng *rand.Rand) *string {
	if rng.IntN(4) == 0 {
		return nil
	}
	s := historyTexts[rng.IntN(len(historyTexts))]
	return &s
}

func genInstant(rng *rand.Rand) *time.Time {
	if rng.IntN(5) == 0 {
		return nil
	}
	t := time.UnixMilli(rng.Int64N(7_289_654_399_999)).UTC()
	return &t
}

func genDate(rng *rand.Rand) *time.Time {
	if rng.IntN(5) == 0 {
		return nil
	}
	// 1900-01-01 to 9999-12-31, before 1970 included.
	t := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(2_958_464))
	return &t
}

// historyUnscaled are unscaled decimal values at the edges of their encoding (one byte more or
// less, sign bit) and of the precisions (19 and 9 digits).
var historyUnscaled = []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, -256, -257, 32767, 32768, -32768,
	-32769, 1 << 31, -(1 << 31), 999_999_999, -999_999_999, 9_999_999_999_999_999, 999_999_999_999_999_999,
	-999_999_999_999_999_999, 1_000_000_000_000_000_000, 9_223_372_036_854_775_807, -9_223_372_036_854_775_807, 375_000, 400_000}

func genDecimal(rng *rand.Rand, precision int) *big.Rat {
	var u int64
	if rng.IntN(2) == 0 {
		u = historyUnscaled[rng.IntN(len(historyUnscaled))]
	} else {
		u = rng.Int64N(1_000_000_000) - 500_000_000
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)
	if new(big.Int).Abs(big.NewInt(u)).Cmp(limit) >= 0 {
		u %= 1_000_000_000
	}
	return big.NewRat(u, 10_000)
}

func genOptDecimal(rng *rand.Rand, precision int) **big.Rat {
	if rng.IntN(4) == 0 {
		return nil
	}
	return change.Dec(genDecimal(rng, precision))
}

func genPerson(rng *rand.Rand, i int) *change.Person {
	p := &change.Person{
		ID: "p" + strconv.Itoa(i), Email: genText(rng), FirstName: genText(rng), LastName: genText(rng),
		PreferredName: genText(rng), Gender: genText(rng), Status: genText(rng), ProfilePictureURL: genText(rng),
		CreatedAt: genInstant(rng), UpdatedAt: genInstant(rng),
	}
	nAttrs := rng.IntN(6)
	if i%17 == 0 {
		nAttrs = 150 // two blocks
	}
	for k := range nAttrs {
		p.CustomAttributes = append(p.CustomAttributes, change.CustomAttribute{ID: fmt.Sprintf("dynamic_%03d", k),
			GlobalID: genText(rng), Label: genText(rng), Type: genText(rng), ValueJSON: genText(rng)})
	}
	if nAttrs == 0 && rng.IntN(2) == 0 {
		p.CustomAttributes = []change.CustomAttribute{}
	}
	for k := range rng.IntN(4) {
		m := change.Employment{
			ID: "e" + strconv.Itoa(k), Status: genText(rng), Type: genText(rng), PositionTitle: genText(rng),
			StartDate: genDate(rng), EndDate: genDate(rng), ProbationEndDate: genDate(rng), ContractEndDate: genDate(rng),
			WeeklyWorkingHours: genOptDecimal(rng, change.HoursPrecision), FullTimeWeeklyWorkingHours: genOptDecimal(rng, change.HoursPrecision),
			SupervisorID: genText(rng), OfficeID: genText(rng), LegalEntityID: genText(rng), SubCompanyID: genText(rng), JobID: genText(rng),
			CreatedAt: genInstant(rng), UpdatedAt: genInstant(rng),
		}
		for u := range rng.IntN(3) {
			m.OrgUnits = append(m.OrgUnits, change.OrgUnit{ID: "ou" + strconv.Itoa(u), Type: genText(rng)})
		}
		for c := range rng.IntN(3) {
			m.CostCenters = append(m.CostCenters, change.CostCenter{ID: "cc" + strconv.Itoa(c), Weight: genOptDecimal(rng, change.HoursPrecision)})
		}
		if rng.IntN(3) == 0 {
			m.Termination = &change.Termination{TerminationDate: genDate(rng), LastWorkingDay: genDate(rng),
				TerminatedAt: genInstant(rng), Type: genText(rng), Reason: genText(rng)}
		}
		p.Employments = append(p.Employments, m)
	}
	return p
}

func genCompensation(rng *rand.Rand, i int) *change.Compensation {
	c := &change.Compensation{
		ID: "c" + strconv.Itoa(i), PersonioID: genText(rng), PersonID: "p" + strconv.Itoa(i%7),
		LegalEntityID: genText(rng), TypeID: genText(rng), TypeName: genText(rng), TypeCategory: genText(rng),
		Amount: genDecimal(rng, change.AmountPrecision), Currency: "EUR", EffectiveFrom: *genDateAlways(rng),
		Interval: genText(rng), WeeklyWorkingHours: genOptDecimal(rng, change.HoursPrecision),
		FullTimeWeeklyWorkingHours: genOptDecimal(rng, change.HoursPrecision),
	}
	if i%3 == 0 {
		c.Currency = "CHF"
	}
	return c
}

func genDateAlways(rng *rand.Rand) *time.Time {
	for {
		if d := genDate(rng); d != nil {
			return d
		}
	}
}

func pick(rng *rand.Rand, options ...string) string { return options[rng.IntN(len(options))] }

// Notations Personio may send, all accepted by the normal form.
var (
	listedInstants = []string{"", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123456789Z",
		"2024-03-01T12:00:00+02:00", "2024-02-29T23:59:59.9-05:30", " 2024-03-01T10:00:00Z ", "2024-03-01T10:00:00",
		"2024-03-01 10:00:00", "2024-03-01 10:00:00+01:00", "2024-03-01", "1970-01-01T00:00:00Z", "2200-12-31T23:59:59.999Z"}
	listedDates = []string{"", "2024-03-01", "1900-01-01", "1969-12-31", "9999-12-31", "2024-02-29T10:00:00Z",
		" 2030-12-31 ", "2024-03-01T23:30:00-05:00"}
	listedDecimals = []string{"", "40", "37.5", "37.50", "0.0001", "-0.25", "+3.25", " 7 ", "1e1", "2.5E-1", "12345.6789", "0", "-0"}
	listedValues   = []string{"", "null", `"44"`, "44", "-1.50", "1e3", "true", `"ü"`, `"a\"b"`, `["b","a"]`,
		`{"b":1,"a":[1,2]}`, ` { "z" : "x" , "a":null } `, `"<tag>&"`, `[{"id":2},{"id":1}]`}
)

func listedDecimal(rng *rand.Rand) *personio.Decimal {
	s := pick(rng, listedDecimals...)
	if s == "" {
		return nil
	}
	d := personio.Decimal(s)
	return &d
}

func ref(rng *rand.Rand, prefix string) *personio.Ref {
	switch rng.IntN(3) {
	case 0:
		return nil
	case 1:
		return &personio.Ref{ID: " " + prefix + "1 "}
	}
	return &personio.Ref{ID: prefix + strconv.Itoa(rng.IntN(100))}
}

// genListed returns a person as Personio sends it; emps is nil (employment details off) for
// every third.
func genListed(rng *rand.Rand, i int) (personio.Person, []personio.Employment) {
	p := personio.Person{
		ID: " " + strconv.Itoa(1000+i), Email: pick(rng, "", "Ada.Lovelace@Example.COM", " x@y.z ", "ÄBC@example.com"),
		FirstName: pick(rng, historyTexts...), LastName: pick(rng, historyTexts...), PreferredName: pick(rng, "", "Al"),
		Gender: pick(rng, "", "female", "DIVERSE"), Status: pick(rng, "", "ACTIVE", "INACTIVE"),
		CreatedAt: pick(rng, listedInstants...), UpdatedAt: pick(rng, listedInstants...),
	}
	if rng.IntN(2) == 0 {
		p.ProfilePicture = &personio.ProfilePicture{URL: pick(rng, "", "https://example.com/p.png")}
	}
	for k := range rng.IntN(5) {
		id := []string{"dynamic_9", "dynamic_1", "dynamic_5", "dynamic_3", "dynamic_7"}[k]
		p.CustomAttributes = append(p.CustomAttributes, personio.CustomAttribute{ID: id,
			Type: pick(rng, "", "STRING", "Integer", "list"), GlobalID: pick(rng, "", "g"+id), Label: pick(rng, "", "Label "+id),
			Value: json.RawMessage(pick(rng, listedValues...))})
	}
	nEmps := rng.IntN(4)
	for k := range nEmps {
		p.Employments = append(p.Employments, personio.Ref{ID: []string{"e3", "e1", " e2"}[k]})
	}
	if i%3 == 0 {
		return p, nil
	}
	emps := []personio.Employment{}
	for k := range nEmps {
		m := personio.Employment{
			ID: []string{"e3", "e1", " e2"}[k], Status: pick(rng, "", "ACTIVE", " inactive "), Type: pick(rng, "", "INTERNAL"),
			WeeklyWorkingHours: listedDecimal(rng), FullTimeWeeklyWorkingHours: listedDecimal(rng),
			ProbationEndDate: pick(rng, listedDates...), EmploymentStartDate: pick(rng, listedDates...),
			EmploymentEndDate: pick(rng, listedDates...), ContractEndDate: pick(rng, listedDates...),
			Supervisor: ref(rng, "s"), Office: ref(rng, "o"), LegalEntity: ref(rng, "l"), SubCompany: ref(rng, "sc"), Job: ref(rng, "j"),
			CreatedAt: pick(rng, listedInstants...), UpdatedAt: pick(rng, listedInstants...),
		}
		if rng.IntN(2) == 0 {
			m.Position = &personio.Position{Title: pick(rng, "", "Engineer", " Lead ")}
		}
		for u := range rng.IntN(3) {
			m.OrgUnits = append(m.OrgUnits, personio.OrgUnit{ID: []string{"ou2", "ou1", "ou3"}[u], Type: pick(rng, "", "department", "team")})
		}
		for c := range rng.IntN(3) {
			m.CostCenters = append(m.CostCenters, personio.CostCenter{ID: []string{"cc2", "cc1", "cc3"}[c], Weight: listedDecimal(rng)})
		}
		if rng.IntN(3) == 0 {
			m.Termination = &personio.Termination{TerminationDate: pick(rng, listedDates...), LastWorkingDay: pick(rng, listedDates...),
				TerminatedAt: pick(rng, listedInstants...), Type: pick(rng, "", "RESIGNATION"), Reason: pick(rng, "", "moved")}
		}
		emps = append(emps, m)
	}
	return p, emps
}
