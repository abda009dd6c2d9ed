package personiotest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

const (
	dateLayout = "2006-01-02"
	day        = 24 * time.Hour
)

// legalEntity is one company of the group; it fixes the currency of its employees' pay.
type legalEntity struct {
	id       string
	currency string
	weight   int // relative share of employees
	yearly   bool
}

var legalEntities = []legalEntity{
	{id: "170", currency: "EUR", weight: 55},
	{id: "171", currency: "GBP", weight: 20},
	{id: "172", currency: "CHF", weight: 10},
	{id: "173", currency: "USD", weight: 15, yearly: true},
}

// Compensation types as Personio lists them under /v2/compensations/types.
var (
	typeSalary  = personio.CompensationType{ID: "0f8c6a52-4c1e-4c3b-9a57-6f4f0f1a0001", Name: "Base salary", Category: "FIXED"}
	typeHourly  = personio.CompensationType{ID: "0f8c6a52-4c1e-4c3b-9a57-6f4f0f1a0002", Name: "Hourly wage", Category: "FIXED"}
	typeBonus   = personio.CompensationType{ID: "0f8c6a52-4c1e-4c3b-9a57-6f4f0f1a0003", Name: "Performance bonus", Category: "BONUS"}
	typeOneTime = personio.CompensationType{ID: "0f8c6a52-4c1e-4c3b-9a57-6f4f0f1a0004", Name: "Relocation allowance", Category: "ONE_TIME_PAYMENT"}
	typeAnnual  = personio.CompensationType{ID: "0f8c6a52-4c1e-4c3b-9a57-6f4f0f1a0005", Name: "Annual bonus", Category: "BONUS"}
)

// attrDef defines a custom attribute of the company.
type attrDef struct {
	id, globalID, label, typ string
	gen                      func(f *gofakeit.Faker) json.RawMessage
}

func rawString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

var attrDefs = []attrDef{
	{"dynamic_1201", "shirt_size", "T-shirt size", "STRING", func(f *gofakeit.Faker) json.RawMessage {
		return rawString(f.RandomString([]string{"XS", "S", "M", "L", "XL", "XXL"}))
	}},
	{"dynamic_1202", "children", "Number of children", "INT", func(f *gofakeit.Faker) json.RawMessage {
		return rawString(strconv.Itoa(f.IntRange(0, 4)))
	}},
	{"dynamic_1203", "commute_km", "Commute distance (km)", "DOUBLE", func(f *gofakeit.Faker) json.RawMessage {
		return rawString(strconv.FormatFloat(float64(f.IntRange(5, 800))/10, 'f', -1, 64))
	}},
	{"dynamic_1204", "birthday", "Date of birth", "DATE", func(f *gofakeit.Faker) json.RawMessage {
		d := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, f.IntRange(0, 365*44))
		return rawString(d.Format(dateLayout))
	}},
	{"dynamic_1205", "company_car", "Company car", "BOOLEAN", func(f *gofakeit.Faker) json.RawMessage {
		return rawString(strconv.FormatBool(f.IntRange(0, 4) == 0))
	}},
	{"dynamic_1206", "languages", "Languages", "STRING_LIST", func(f *gofakeit.Faker) json.RawMessage {
		langs := []string{"English", "German", "French", "Spanish", "Italian", "Dutch", "Polish", "Portuguese"}
		n := f.IntRange(1, 3)
		f.ShuffleStrings(langs)
		b, _ := json.Marshal(langs[:n])
		return b
	}},
	// Personio's own example sends this type in lower case ("string"), against its enum; the
	// simulator follows the enum (see contract_test.go), the client accepts both.
	{"dynamic_1207", "iban", "IBAN", "STRING", func(f *gofakeit.Faker) json.RawMessage {
		return rawString(fmt.Sprintf("DE%02d%08d%010d", f.IntRange(10, 99), f.IntRange(10000000, 99999999), f.IntRange(0, 999999999)))
	}},
}

var terminationTypes = []string{"EMPLOYEE", "FIRED", "CONTRACT_EXPIRED", "AGREEMENT", "RETIREMENT", "QUIT"}
var terminationReasons = []string{"Moving to a different position", "Relocation", "End of fixed-term contract", "Restructuring", "Career change", "Retirement"}
var weeklyHours = []string{"40", "40", "40", "38.5", "32", "30", "20"}

// personRec is the simulator's record of one person. seq is the immutable sort key.
type personRec struct {
	seq     uint64
	p       personio.Person
	updated time.Time
	created time.Time
	emps    []*employmentRec
	json    []byte // encoded p, refreshed on every change
}

type employmentRec struct {
	seq     uint64
	e       personio.Employment
	updated time.Time
	json    []byte
}

type compRec struct {
	seq            uint64
	c              personio.Compensation
	effective      time.Time
	amountAsString bool // serve the amount as a numeric string, as Personio occasionally does
	json           []byte
}

// dataset is the simulator's company. It is not safe for concurrent use; Server guards it.
type dataset struct {
	omitCompIDs bool
	months      int

	fake   *gofakeit.Faker
	anchor time.Time // UTC midnight of the day the data were built
	domain string
	lastTS time.Time // latest timestamp handed out by the clock

	persons []*personRec // sorted by seq
	byID    map[string]*personRec
	emails  map[string]bool
	comps   []*compRec // sorted by seq

	nextPersonSeq, nextEmpSeq, nextCompSeq uint64

	twins []twinPair // see Options.TwinBonuses

	removed []*personRec // persons the current churn deleted, for their webhook events
}

func fakerSeed(seed int64, stream uint64) uint64 {
	s := uint64(seed)*0x9E3779B97F4A7C15 + stream*0xBF58476D1CE4E5B9 + 0x94D049BB133111EB
	if s == 0 { // gofakeit treats 0 as "random"
		s = 1
	}
	return s
}

func newDataset(opts Options) *dataset {
	now := opts.Now().UTC()
	d := &dataset{
		omitCompIDs: opts.OmitCompensationIDs,
		months:      opts.CompensationMonths,
		fake:        gofakeit.New(fakerSeed(opts.Seed, 1)),
		anchor:      time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC),
		byID:        make(map[string]*personRec, opts.Persons),
		emails:      make(map[string]bool, opts.Persons),
	}
	d.lastTS = d.anchor
	d.domain = slug(d.fake.Company()) + ".example.com"
	if d.domain == ".example.com" {
		d.domain = "company.example.com"
	}
	d.generate(opts.Persons)
	d.addTwinBonuses(opts.TwinBonuses)
	return d
}

func (d *dataset) generate(n int) {
	f := d.fake
	first := d.anchor.AddDate(-6, 0, 0)
	span := d.anchor.AddDate(0, 0, -30).Sub(first)
	for i := range n {
		created := first.Add(time.Duration(float64(span) * float64(i) / float64(n))).
			Add(time.Duration(f.IntRange(0, 86399)) * time.Second)
		updated := d.randomBetween(created, d.anchor)
		rec := d.addPerson(created, updated)
		le := d.pickLegalEntity()
		start := dateOf(created).AddDate(0, 0, f.IntRange(0, 14))
		if i > 0 && f.IntRange(1, 100) <= 15 {
			// An earlier employment that ended before the current one began.
			end := start.AddDate(0, 0, f.IntRange(120, 700))
			if end.Before(d.anchor.AddDate(0, 0, -60)) {
				e := d.addEmployment(rec, start, le, created)
				d.endEmployment(e, end, d.randomBetween(created, d.anchor))
				start = end.AddDate(0, 0, 1)
				le = d.pickLegalEntity()
			}
		}
		empCreated := maxTime(created, start.Add(-14*day))
		cur := d.addEmployment(rec, start, le, empCreated)
		switch r := f.IntRange(1, 100); {
		case i > 0 && r <= 12: // left the company
			lo := start.AddDate(0, 0, 30)
			hi := d.anchor.AddDate(0, 0, -1)
			end := hi
			if lo.Before(hi) {
				end = dateOf(d.randomBetween(lo, hi))
			}
			d.endEmployment(cur, end, d.randomBetween(empCreated, d.anchor))
			rec.p.Status = "INACTIVE"
		case r == 95 || r == 96: // on parental or sick leave
			cur.e.Status = "LEAVE"
		case r >= 97: // resigned, leaves at a future date
			end := d.anchor.AddDate(0, 0, f.IntRange(10, 60))
			d.setTermination(cur, end, d.anchor.AddDate(0, 0, -f.IntRange(1, 20)))
			cur.updated = d.randomBetween(empCreated, d.anchor)
		}
		for _, e := range rec.emps {
			rec.updated = maxTime(rec.updated, e.updated)
			e.encode()
		}
		d.addCompensationHistory(rec)
		rec.encode()
	}
}

// randomBetween returns a whole second in [lo, hi).
func (d *dataset) randomBetween(lo, hi time.Time) time.Time {
	secs := int(hi.Sub(lo) / time.Second)
	if secs <= 1 {
		return lo
	}
	return lo.Add(time.Duration(d.fake.IntRange(0, secs-1)) * time.Second).Truncate(time.Second)
}

func (d *dataset) pickLegalEntity() legalEntity {
	total := 0
	for _, le := range legalEntities {
		total += le.weight
	}
	r := d.fake.IntRange(0, total-1)
	for _, le := range legalEntities {
		if r < le.weight {
			return le
		}
		r -= le.weight
	}
	return legalEntities[0]
}

func legalEntityByID(id string) legalEntity {
	for _, le := range legalEntities {
		if le.id == id {
			return le
		}
	}
	return legalEntities[0]
}

func (d *dataset) addPerson(created, updated time.Time) *personRec {
	// The API shows created_at to the second and filters on what it shows.
	created = created.UTC().Truncate(time.Second)
	f := d.fake
	d.nextPersonSeq++
	seq := d.nextPersonSeq
	id := strconv.FormatUint(1000000+seq*17+uint64(f.IntRange(0, 16)), 10)
	first, last := f.FirstName(), f.LastName()
	p := personio.Person{
		ID:        id,
		FirstName: first,
		LastName:  last,
		Email:     d.uniqueEmail(first, last),
		Status:    "ACTIVE",
		CreatedAt: rfc3339(created),
	}
	switch r := f.IntRange(1, 100); {
	case r <= 10: // the full name, as in Personio's own example
		p.PreferredName = first + " " + last
	case r <= 20 && len([]rune(first)) > 4: // a short form
		p.PreferredName = string([]rune(first)[:3])
	}
	switch r := f.IntRange(1, 100); {
	case r <= 46:
		p.Gender = "MALE"
	case r <= 92:
		p.Gender = "FEMALE"
	case r <= 96:
		p.Gender = "DIVERSE"
	default:
		p.Gender = "UNSPECIFIED"
	}
	if f.IntRange(1, 100) <= 90 {
		p.ProfilePicture = &personio.ProfilePicture{URL: pictureOrigin + picturePath(id)}
	}
	for _, a := range attrDefs {
		v := a.gen(f)
		if f.IntRange(1, 100) <= 10 {
			continue // not every attribute is filled in for everyone
		}
		p.CustomAttributes = append(p.CustomAttributes, personio.CustomAttribute{
			ID: a.id, Type: a.typ, GlobalID: a.globalID, Label: a.label, Value: v,
		})
	}
	rec := &personRec{seq: seq, p: p, created: created, updated: updated}
	d.persons = append(d.persons, rec)
	d.byID[id] = rec
	return rec
}

// uniqueEmail builds first.last@domain, numbered when taken, and reserves it.
func (d *dataset) uniqueEmail(first, last string) string {
	base := slug(first) + "." + slug(last)
	if base == "." {
		base = "person"
	}
	base = strings.Trim(base, ".")
	email := base + "@" + d.domain
	for n := 2; d.emails[email]; n++ {
		email = base + strconv.Itoa(n) + "@" + d.domain
	}
	d.emails[email] = true
	return email
}

// slug keeps the lower-case ASCII letters and digits of s.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (d *dataset) addEmployment(rec *personRec, start time.Time, le legalEntity, created time.Time) *employmentRec {
	f := d.fake
	d.nextEmpSeq++
	wh := personio.Decimal(weeklyHours[f.IntRange(0, len(weeklyHours)-1)])
	full := personio.Decimal("40")
	e := personio.Employment{
		ID:                         f.UUID(),
		Person:                     personio.Ref{ID: rec.p.ID},
		Position:                   &personio.Position{Title: f.JobTitle()},
		Status:                     "ACTIVE",
		Type:                       "INTERNAL",
		WeeklyWorkingHours:         &wh,
		FullTimeWeeklyWorkingHours: &full,
		ProbationEndDate:           start.AddDate(0, 6, 0).Format(dateLayout),
		EmploymentStartDate:        start.Format(dateLayout),
		Office:                     &personio.Ref{ID: strconv.Itoa(60301 + f.IntRange(0, 4))},
		OrgUnits: []personio.OrgUnit{
			{ID: strconv.Itoa(401 + f.IntRange(0, 7)), Type: "department"},
			{ID: strconv.Itoa(4501 + f.IntRange(0, 19)), Type: "team"},
		},
		LegalEntity: &personio.Ref{ID: le.id},
		CreatedAt:   rfc3339(created),
	}
	if f.IntRange(1, 100) <= 10 {
		e.Type = "EXTERNAL"
		e.ContractEndDate = start.AddDate(f.IntRange(1, 3), 0, -1).Format(dateLayout)
	}
	// Supervisors come from the first tenth of the company (its earliest hires).
	if n := len(d.persons) - 1; n > 0 {
		sup := d.persons[f.IntRange(0, min(n-1, max(0, n/10)))]
		e.Supervisor = &personio.Ref{ID: sup.p.ID}
	}
	cc := strconv.Itoa(1000 + f.IntRange(0, 9))
	if f.IntRange(1, 100) <= 20 {
		split := []string{"50", "60", "70", "75", "80"}[f.IntRange(0, 4)]
		rest := strconv.Itoa(100 - mustAtoi(split))
		w1, w2 := personio.Decimal(split), personio.Decimal(rest)
		e.CostCenters = []personio.CostCenter{{ID: cc, Weight: &w1}, {ID: strconv.Itoa(1010 + f.IntRange(0, 9)), Weight: &w2}}
	} else {
		w := personio.Decimal("100")
		e.CostCenters = []personio.CostCenter{{ID: cc, Weight: &w}}
	}
	updated := d.randomBetween(created, maxTime(d.anchor, created.Add(time.Second)))
	if updated.After(d.anchor) {
		updated = created
	}
	er := &employmentRec{seq: d.nextEmpSeq, e: e, updated: updated}
	rec.emps = append(rec.emps, er)
	rec.p.Employments = append(rec.p.Employments, personio.Ref{ID: e.ID})
	return er
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// endEmployment ends e on the date end and records the change at ts.
func (d *dataset) endEmployment(e *employmentRec, end, ts time.Time) {
	d.setTermination(e, end, end.AddDate(0, 0, -d.fake.IntRange(14, 90)))
	e.e.Status = "INACTIVE"
	e.e.EmploymentEndDate = end.Format(dateLayout)
	e.updated = maxTime(e.updated, ts)
}

func (d *dataset) setTermination(e *employmentRec, end, terminatedAt time.Time) {
	f := d.fake
	e.e.Termination = &personio.Termination{
		TerminationDate: end.Format(dateLayout),
		LastWorkingDay:  end.Format(dateLayout),
		TerminatedAt:    terminatedAt.Format(dateLayout),
		Type:            terminationTypes[f.IntRange(0, len(terminationTypes)-1)],
		Reason:          terminationReasons[f.IntRange(0, len(terminationReasons)-1)],
	}
}

// monthStart returns the first day of t's month, UTC.
func monthStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// addMonth returns the same day one month later, clamped to the last day of that month
// (January 31 -> February 28).
func addMonth(t time.Time) time.Time {
	y, m, d := t.Date()
	last := time.Date(y, m+2, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(y, m+1, min(d, last), 0, 0, 0, 0, time.UTC)
}

func dateOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func parseDate(s string) time.Time {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// activeIn reports whether e runs during [from, to].
func (e *employmentRec) activeIn(from, to time.Time) bool {
	start := parseDate(e.e.EmploymentStartDate)
	if start.After(to) {
		return false
	}
	if e.e.EmploymentEndDate != "" && parseDate(e.e.EmploymentEndDate).Before(from) {
		return false
	}
	return true
}

// basePay draws a pay level in cents for an employment: monthly, yearly (US entity) or
// hourly (external staff).
func (d *dataset) basePay(e *employmentRec) (cents int64, typ personio.CompensationType, interval string) {
	f := d.fake
	le := legalEntityByID(e.e.LegalEntity.ID)
	if e.e.Type == "EXTERNAL" {
		return int64(f.IntRange(1800, 9500)), typeHourly, "HOURLY"
	}
	var lo, hi int
	switch le.currency {
	case "GBP":
		lo, hi = 2400, 8000
	case "CHF":
		lo, hi = 5500, 14000
	case "USD":
		lo, hi = 55000, 190000
	default:
		lo, hi = 2800, 9500
	}
	whole := int64(f.IntRange(lo, hi))
	if wh, err := strconv.ParseFloat(string(*e.e.WeeklyWorkingHours), 64); err == nil && wh < 40 {
		whole = int64(math.Round(float64(whole) * wh / 40))
	}
	cents = whole*100 + d.randomCents()
	if le.yearly {
		return cents, typeSalary, "YEARLY"
	}
	return cents, typeSalary, "MONTHLY"
}

func (d *dataset) randomCents() int64 {
	switch r := d.fake.IntRange(1, 100); {
	case r <= 30:
		return 0
	case r <= 40:
		return 50
	default:
		return int64(d.fake.IntRange(1, 99))
	}
}

// addCompensationHistory gives rec a salary for every month of the range it was employed in,
// plus occasional bonuses and one-time payments.
func (d *dataset) addCompensationHistory(rec *personRec) {
	f := d.fake
	cur := monthStart(d.anchor)
	pay := map[*employmentRec]int64{}
	for k := d.months; k >= 0; k-- {
		from := cur.AddDate(0, -k, 0)
		to := from.AddDate(0, 1, -1)
		for _, e := range rec.emps {
			if !e.activeIn(from, to) {
				continue
			}
			cents, typ, interval := d.basePay(e)
			if prev, ok := pay[e]; ok {
				cents = prev
				if f.IntRange(1, 100) <= 8 { // a raise
					cents = cents * int64(f.IntRange(102, 110)) / 100
				}
			}
			pay[e] = cents
			eff := maxTime(from, parseDate(e.e.EmploymentStartDate))
			d.addComp(rec, e, typ, cents, eff, interval)
		}
	}
	last := rec.emps[len(rec.emps)-1]
	first := cur.AddDate(0, -d.months, 0)
	if !last.activeIn(first, d.anchor) {
		return
	}
	randomDay := func() time.Time {
		lo := maxTime(first, parseDate(last.e.EmploymentStartDate))
		return dateOf(d.randomBetween(lo, d.anchor.Add(day)))
	}
	if f.IntRange(1, 100) <= 15 {
		d.addComp(rec, last, typeBonus, int64(f.IntRange(500, 5000))*100+d.randomCents(), randomDay(), "ONE_TIME")
	}
	if f.IntRange(1, 100) <= 5 {
		d.addComp(rec, last, typeOneTime, int64(f.IntRange(1000, 8000))*100, randomDay(), "ONE_TIME")
	}
	if f.IntRange(1, 100) <= 5 {
		d.addComp(rec, last, typeAnnual, int64(f.IntRange(2000, 20000))*100, maxTime(first, parseDate(last.e.EmploymentStartDate)), "YEARLY")
	}
}

func (d *dataset) addComp(rec *personRec, e *employmentRec, typ personio.CompensationType, cents int64, eff time.Time, interval string) *compRec {
	f := d.fake
	d.nextCompSeq++
	id := f.UUID()
	if d.omitCompIDs {
		id = ""
	}
	le := legalEntityByID(e.e.LegalEntity.ID)
	c := personio.Compensation{
		ID:                         id,
		Person:                     personio.Ref{ID: rec.p.ID},
		LegalEntity:                personio.Ref{ID: le.id},
		Type:                       typ,
		Amount:                     personio.Money{Value: personio.Decimal(centsText(cents)), Currency: le.currency},
		EffectiveFrom:              eff.Format(dateLayout),
		Interval:                   interval,
		WeeklyWorkingHours:         e.e.WeeklyWorkingHours,
		FullTimeWeeklyWorkingHours: e.e.FullTimeWeeklyWorkingHours,
	}
	cr := &compRec{seq: d.nextCompSeq, c: c, effective: eff, amountAsString: f.IntRange(1, 100) <= 3}
	cr.encode()
	d.comps = append(d.comps, cr)
	return cr
}

// centsText writes an amount in cents as the shortest JSON number: 425050 -> "4250.5".
func centsText(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	s := strconv.FormatInt(cents/100, 10)
	switch frac := cents % 100; {
	case frac == 0:
	case frac%10 == 0:
		s += "." + strconv.FormatInt(frac/10, 10)
	default:
		s += fmt.Sprintf(".%02d", frac)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// parseCents parses a decimal text with at most two places back into cents.
func parseCents(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	c, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	return w*100 + c
}

// simOrigin stands for the simulator's origin in the _meta links of the stored JSON of persons
// and employments; each reply puts the origin the client asked in its place (Server.onOrigin).
// pictureOrigin stands for it in profile_picture.url, which is content: replies and Truth put
// Server.PublicURL there, the same whatever host name the client used.
const (
	simOrigin     = "http://personio-sim.invalid"
	pictureOrigin = "http://personio-sim-picture.invalid"
)

func picturePath(personID string) string     { return "/v2/persons/" + personID + "/profile-picture" }
func employmentsPath(personID string) string { return "/v2/persons/" + personID + "/employments" }

// wireMeta is the _meta of a person or employment as served: its links by relation.
type wireMeta struct {
	Links map[string]link `json:"links"`
}

// personWire is a person as served: with _meta.links.employments, as in every example of
// Personio's persons spec.
type personWire struct {
	personio.Person
	Meta wireMeta `json:"_meta"`
}

func (r *personRec) encode() {
	r.p.UpdatedAt = rfc3339(r.updated)
	w := personWire{Person: r.p}
	w.Meta.Links = map[string]link{"employments": {Href: simOrigin + employmentsPath(r.p.ID)}}
	r.json = mustJSON(w)
}

// employmentWire is an employment as served: with _meta.links to its person and supervisor,
// as in the examples of Personio's employments spec.
type employmentWire struct {
	personio.Employment
	Meta wireMeta `json:"_meta"`
}

func (r *employmentRec) encode() {
	r.e.UpdatedAt = rfc3339(r.updated)
	w := employmentWire{Employment: r.e}
	w.Meta.Links = map[string]link{"person": {Href: simOrigin + "/v2/persons/" + r.e.Person.ID}}
	if r.e.Supervisor != nil && r.e.Supervisor.ID != "" {
		w.Meta.Links["supervisor"] = link{Href: simOrigin + "/v2/persons/" + r.e.Supervisor.ID}
	}
	r.json = mustJSON(w)
}

// compWire is a compensation as served: the amount may be a numeric string.
type compWire struct {
	ID                         string                    `json:"id,omitempty"`
	Person                     personio.Ref              `json:"person"`
	LegalEntity                personio.Ref              `json:"legal_entity"`
	Type                       personio.CompensationType `json:"type"`
	Amount                     amountWire                `json:"amount"`
	EffectiveFrom              string                    `json:"effective_from"`
	Interval                   string                    `json:"interval"`
	WeeklyWorkingHours         *personio.Decimal         `json:"weekly_working_hours,omitempty"`
	FullTimeWeeklyWorkingHours *personio.Decimal         `json:"full_time_weekly_working_hours,omitempty"`
}

type amountWire struct {
	Value    json.RawMessage `json:"value"`
	Currency string          `json:"currency"`
}

func (r *compRec) encode() {
	v := json.RawMessage(r.c.Amount.Value)
	if r.amountAsString {
		v = rawString(string(r.c.Amount.Value))
	}
	r.json = mustJSON(compWire{
		ID: r.c.ID, Person: r.c.Person, LegalEntity: r.c.LegalEntity, Type: r.c.Type,
		Amount:        amountWire{Value: v, Currency: r.c.Amount.Currency},
		EffectiveFrom: r.c.EffectiveFrom, Interval: r.c.Interval,
		WeeklyWorkingHours: r.c.WeeklyWorkingHours, FullTimeWeeklyWorkingHours: r.c.FullTimeWeeklyWorkingHours,
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("personiotest: encode %T: %v", v, err))
	}
	return b
}

// personIndex returns the position of the first person with seq > after.
func (d *dataset) personIndex(after uint64) int {
	i, _ := slices.BinarySearchFunc(d.persons, after+1, func(p *personRec, s uint64) int {
		switch {
		case p.seq < s:
			return -1
		case p.seq > s:
			return 1
		}
		return 0
	})
	return i
}

// compIndex returns the position of the first compensation with seq > after.
func (d *dataset) compIndex(after uint64) int {
	i, _ := slices.BinarySearchFunc(d.comps, after+1, func(c *compRec, s uint64) int {
		switch {
		case c.seq < s:
			return -1
		case c.seq > s:
			return 1
		}
		return 0
	})
	return i
}
