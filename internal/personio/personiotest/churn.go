package personiotest

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Churn asks for changes to the company: each field is how many of that kind to make.
type Churn struct {
	Hires            int `json:"hires,omitempty"`             // new person + employment + salary
	Terminations     int `json:"terminations,omitempty"`      // status INACTIVE, termination set
	Deletions        int `json:"deletions,omitempty"`         // person, employments and compensations gone
	Renames          int `json:"renames,omitempty"`           // new last name (or first name)
	EmailChanges     int `json:"email_changes,omitempty"`     // new unique email
	AttributeChanges int `json:"attribute_changes,omitempty"` // one custom attribute gets a new value
	SalaryChanges    int `json:"salary_changes,omitempty"`    // current salary gets a new amount
	Bonuses          int `json:"bonuses,omitempty"`           // new one-time bonus

	// TwinBonusChanges raises the first listed bonus of that many twin pairs by 100
	// (Options.TwinBonuses; it stays the larger of its pair).
	TwinBonusChanges int `json:"twin_bonus_changes,omitempty"`

	// EmploymentChanges changes the current employment of that many active persons: its
	// weekly working hours, position title, supervisor or office. CostCenterChanges re-weights
	// (or splits, or joins) the cost centers of the current employment of that many active
	// persons. Both move the employment's updated_at and leave the person's alone, as
	// Personio does: only the employment listing shows them.
	EmploymentChanges int `json:"employment_changes,omitempty"`
	CostCenterChanges int `json:"cost_center_changes,omitempty"`
}

// ChurnResult lists the ids of the persons affected, per kind of change. Within one Churn the
// kinds affect disjoint persons. A kind may list fewer ids than asked for when there are not
// enough candidates (e.g. no active person left).
type ChurnResult struct {
	Hires            []string `json:"hires"`
	Terminations     []string `json:"terminations"`
	Deletions        []string `json:"deletions"`
	Renames          []string `json:"renames"`
	EmailChanges     []string `json:"email_changes"`
	AttributeChanges []string `json:"attribute_changes"`
	SalaryChanges    []string `json:"salary_changes"`
	Bonuses          []string `json:"bonuses"`

	TwinBonusChanges []string `json:"twin_bonus_changes,omitempty"`

	EmploymentChanges []string `json:"employment_changes,omitempty"`
	CostCenterChanges []string `json:"cost_center_changes,omitempty"`
}

// BurstChurn is the i-th churn (from 0) of a burst of webhook deliveries: three renames, an
// e-mail change, three employment and two cost-center changes, and every tenth churn in turn a
// termination (i%10 == 3), a hire (6) or a deletion (9).
func BurstChurn(i int) Churn {
	ch := Churn{Renames: 3, EmailChanges: 1, EmploymentChanges: 3, CostCenterChanges: 2}
	switch i % 10 {
	case 3:
		ch.Terminations = 1
	case 6:
		ch.Hires = 1
	case 9:
		ch.Deletions = 1
	}
	return ch
}

// Persons returns the ids of the persons a churn of the webhook events' kinds touched: hires,
// terminations, deletions, renames, e-mail, employment and cost-center changes (repeats kept).
func (r ChurnResult) Persons() []string {
	var ids []string
	for _, l := range [][]string{r.Hires, r.Terminations, r.Deletions, r.Renames, r.EmailChanges,
		r.EmploymentChanges, r.CostCenterChanges} {
		ids = append(ids, l...)
	}
	return ids
}

// timestamp returns the time to stamp a change with: the clock to the second, never before
// the last stamp handed out, and strictly after prev (the entity's previous updated_at).
func (d *dataset) timestamp(now, prev time.Time) time.Time {
	t := now.UTC().Truncate(time.Second)
	if t.Before(d.lastTS) {
		t = d.lastTS
	}
	if !t.After(prev) {
		t = prev.Add(time.Second)
	}
	d.lastTS = t
	return t
}

// pick chooses up to n distinct persons that satisfy ok (nil: any), at random.
func (d *dataset) pick(n int, ok func(*personRec) bool) []*personRec {
	if n <= 0 {
		return nil
	}
	var cand []*personRec
	for _, p := range d.persons {
		if ok == nil || ok(p) {
			cand = append(cand, p)
		}
	}
	if n >= len(cand) {
		return cand
	}
	out := make([]*personRec, 0, n)
	for range n {
		i := d.fake.IntRange(0, len(cand)-1)
		out = append(out, cand[i])
		cand[i] = cand[len(cand)-1]
		cand = cand[:len(cand)-1]
	}
	slices.SortFunc(out, func(a, b *personRec) int { return cmpSeq(a.seq, b.seq) })
	return out
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isActive(p *personRec) bool { return p.p.Status == "ACTIVE" }

func (p *personRec) currentEmployment() *employmentRec { return p.emps[len(p.emps)-1] }

func (d *dataset) churn(c Churn, now time.Time) ChurnResult {
	var res ChurnResult
	f := d.fake
	used := map[*personRec]bool{}
	ids := func(ps []*personRec) []string {
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, p.p.ID)
			used[p] = true
		}
		return out
	}
	// pick chooses persons no earlier kind of this churn has touched.
	pick := func(n int, ok func(*personRec) bool) []*personRec {
		return d.pick(n, func(p *personRec) bool { return !used[p] && (ok == nil || ok(p)) })
	}
	touch := func(p *personRec) {
		p.updated = d.timestamp(now, p.updated)
		p.encode()
	}

	for range c.Hires {
		ts := d.timestamp(now, time.Time{})
		p := d.addPerson(ts, ts)
		le := d.pickLegalEntity()
		e := d.addEmployment(p, dateOf(ts), le, ts)
		e.updated = ts
		e.encode()
		cents, typ, interval := d.basePay(e)
		d.addComp(p, e, typ, cents, dateOf(ts), interval)
		p.encode()
		res.Hires = append(res.Hires, p.p.ID)
		used[p] = true
	}

	terms := pick(c.Terminations, isActive)
	for _, p := range terms {
		e := p.currentEmployment()
		ts := d.timestamp(now, maxTime(p.updated, e.updated))
		end := dateOf(ts)
		if start := parseDate(e.e.EmploymentStartDate); end.Before(start) {
			end = start
		}
		d.setTermination(e, end, dateOf(ts))
		e.e.Status = "INACTIVE"
		e.e.EmploymentEndDate = end.Format(dateLayout)
		e.updated = ts
		e.encode()
		p.p.Status = "INACTIVE"
		p.updated = ts
		p.encode()
	}
	res.Terminations = ids(terms)

	dels := pick(c.Deletions, nil)
	for _, p := range dels {
		d.deletePerson(p)
	}
	res.Deletions = ids(dels)

	renames := pick(c.Renames, nil)
	for _, p := range renames {
		if f.IntRange(1, 100) <= 80 {
			p.p.LastName = f.LastName()
		} else {
			p.p.FirstName = f.FirstName()
		}
		touch(p)
	}
	res.Renames = ids(renames)

	emails := pick(c.EmailChanges, nil)
	for _, p := range emails {
		delete(d.emails, p.p.Email)
		p.p.Email = d.uniqueEmail(p.p.FirstName+slug(f.Adjective()), p.p.LastName)
		touch(p)
	}
	res.EmailChanges = ids(emails)

	attrs := pick(c.AttributeChanges, func(p *personRec) bool { return len(p.p.CustomAttributes) > 0 })
	for _, p := range attrs {
		// Copy on write: Truth snapshots share the old slice.
		ca := slices.Clone(p.p.CustomAttributes)
		i := f.IntRange(0, len(ca)-1)
		def := attrDefByID(ca[i].ID)
		old := ca[i].Value
		for range 10 {
			if ca[i].Value = def.gen(f); !jsonEqual(ca[i].Value, old) {
				break
			}
		}
		if jsonEqual(ca[i].Value, old) { // the generator has few values; force a change
			ca[i].Value = changedValue(def, old)
		}
		p.p.CustomAttributes = ca
		touch(p)
	}
	res.AttributeChanges = ids(attrs)

	// Compensation-only changes do not move the person's updated_at, as in Personio.
	sal := pick(c.SalaryChanges, isActive)
	cur := monthStart(dateOf(now))
	for _, p := range sal {
		e := p.currentEmployment()
		var target *compRec
		for _, cr := range d.comps {
			if cr.c.Person.ID == p.p.ID && cr.c.Type.Category == "FIXED" && !cr.effective.Before(cur) {
				target = cr
			}
		}
		if target == nil {
			cents, typ, interval := d.basePay(e)
			eff := maxTime(cur, parseDate(e.e.EmploymentStartDate))
			d.addComp(p, e, typ, cents, eff, interval)
			continue
		}
		cents := parseCents(string(target.c.Amount.Value))
		cents = cents*int64(f.IntRange(102, 112))/100 + d.randomCents()%10
		target.c.Amount.Value = personio.Decimal(centsText(cents))
		target.encode()
	}
	res.SalaryChanges = ids(sal)

	bonus := pick(c.Bonuses, isActive)
	for _, p := range bonus {
		e := p.currentEmployment()
		d.addComp(p, e, typeBonus, int64(f.IntRange(300, 5000))*100+d.randomCents(), dateOf(now), "ONE_TIME")
	}
	res.Bonuses = ids(bonus)
	res.TwinBonusChanges = d.changeTwinBonuses(c.TwinBonusChanges)

	// Employment-only changes come last, so that a churn without them draws the same data
	// as before they existed.
	hasEmployment := func(p *personRec) bool { return isActive(p) && len(p.emps) > 0 }
	empChanges := pick(c.EmploymentChanges, hasEmployment)
	for _, p := range empChanges {
		d.changeEmployment(p.currentEmployment(), now)
	}
	res.EmploymentChanges = ids(empChanges)
	ccChanges := pick(c.CostCenterChanges, hasEmployment)
	for _, p := range ccChanges {
		d.changeCostCenters(p.currentEmployment(), now)
	}
	res.CostCenterChanges = ids(ccChanges)
	return res
}

// changeEmployment changes one payroll field of e (weekly hours, position title, supervisor
// or office) and moves e's updated_at, not its person's.
func (d *dataset) changeEmployment(e *employmentRec, now time.Time) {
	f := d.fake
	switch f.IntRange(0, 3) {
	case 0:
		old := ""
		if e.e.WeeklyWorkingHours != nil {
			old = string(*e.e.WeeklyWorkingHours)
		}
		wh := personio.Decimal(weeklyHours[f.IntRange(0, len(weeklyHours)-1)])
		for string(wh) == old {
			wh = personio.Decimal(weeklyHours[f.IntRange(0, len(weeklyHours)-1)])
		}
		e.e.WeeklyWorkingHours = &wh
	case 1:
		old := ""
		if e.e.Position != nil {
			old = e.e.Position.Title
		}
		title := f.JobTitle()
		for title == old {
			title = f.JobTitle() + " II"
		}
		e.e.Position = &personio.Position{Title: title}
	case 2:
		var sup *personRec
		for _, cand := range d.persons[:min(len(d.persons), max(2, len(d.persons)/10))] {
			if cand.p.ID != e.e.Person.ID && (e.e.Supervisor == nil || cand.p.ID != e.e.Supervisor.ID) {
				sup = cand
				break
			}
		}
		if sup == nil { // a company of one or two: change the office instead
			d.changeOffice(e)
			break
		}
		e.e.Supervisor = &personio.Ref{ID: sup.p.ID}
	default:
		d.changeOffice(e)
	}
	e.updated = d.timestamp(now, e.updated)
	e.encode()
}

func (d *dataset) changeOffice(e *employmentRec) {
	office := strconv.Itoa(60301 + d.fake.IntRange(0, 4))
	if e.e.Office != nil && e.e.Office.ID == office {
		office = strconv.Itoa(60306) // outside the usual five: always different
	}
	e.e.Office = &personio.Ref{ID: office}
}

// changeCostCenters splits a single cost center in two, re-weights two, or joins them into
// the first at 100, and moves e's updated_at, not its person's. The weights always add up to
// 100; the list is a new slice (Truth snapshots share the old one).
func (d *dataset) changeCostCenters(e *employmentRec, now time.Time) {
	f := d.fake
	weight := func(s string) *personio.Decimal { w := personio.Decimal(s); return &w }
	var ccs []personio.CostCenter
	switch {
	case len(e.e.CostCenters) == 0:
		ccs = []personio.CostCenter{{ID: strconv.Itoa(1000 + f.IntRange(0, 9)), Weight: weight("100")}}
	case len(e.e.CostCenters) == 1:
		first := e.e.CostCenters[0].ID
		second := strconv.Itoa(1010 + f.IntRange(0, 9))
		split := []string{"50", "60", "70", "75", "80"}[f.IntRange(0, 4)]
		ccs = []personio.CostCenter{{ID: first, Weight: weight(split)}, {ID: second, Weight: weight(strconv.Itoa(100 - mustAtoi(split)))}}
	case f.IntRange(0, 1) == 0:
		ccs = []personio.CostCenter{{ID: e.e.CostCenters[0].ID, Weight: weight("100")}}
	default:
		old := ""
		if w := e.e.CostCenters[0].Weight; w != nil {
			old = string(*w)
		}
		split := old
		for split == old {
			split = []string{"25", "40", "50", "60", "70", "75", "80", "90"}[f.IntRange(0, 7)]
		}
		ccs = []personio.CostCenter{{ID: e.e.CostCenters[0].ID, Weight: weight(split)},
			{ID: e.e.CostCenters[1].ID, Weight: weight(strconv.Itoa(100 - mustAtoi(split)))}}
	}
	e.e.CostCenters = ccs
	e.updated = d.timestamp(now, e.updated)
	e.encode()
}

func (d *dataset) deletePerson(p *personRec) {
	i := d.personIndex(p.seq - 1)
	d.persons = slices.Delete(d.persons, i, i+1)
	delete(d.byID, p.p.ID)
	delete(d.emails, p.p.Email)
	d.comps = slices.DeleteFunc(d.comps, func(c *compRec) bool { return c.c.Person.ID == p.p.ID })
	d.removed = append(d.removed, p)
}

func attrDefByID(id string) attrDef {
	for _, a := range attrDefs {
		if a.id == id {
			return a
		}
	}
	return attrDefs[0]
}

func jsonEqual(a, b json.RawMessage) bool { return string(a) == string(b) }

// changedValue returns a value of def's type different from old.
func changedValue(def attrDef, old json.RawMessage) json.RawMessage {
	switch def.typ {
	case "BOOLEAN":
		if string(old) == `"true"` {
			return rawString("false")
		}
		return rawString("true")
	case "STRING_LIST":
		var l []string
		_ = json.Unmarshal(old, &l)
		return mustJSON(append(l, "Esperanto"))
	default:
		var s string
		_ = json.Unmarshal(old, &s)
		return rawString(s + "1")
	}
}
