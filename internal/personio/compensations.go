package personio

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

const endpointListCompensations = "GET /v2/compensations"

// Page size bounds of the compensations listing.
const (
	MaxCompensationsLimit     = 100
	DefaultCompensationsLimit = 100
)

// Window is a range of calendar dates, both ends inclusive. Only the year, month and day of
// Start and End count (in their own location); by convention they are UTC midnights.
// Personio serves at most one month of compensations per request.
type Window struct {
	Start, End time.Time
}

// String formats the window as "YYYY-MM-DD..YYYY-MM-DD".
func (w Window) String() string {
	return dateOf(w.Start).Format(time.DateOnly) + ".." + dateOf(w.End).Format(time.DateOnly)
}

// Validate reports ErrWindowTooLong when End is before Start or not before the same day one
// calendar month later (Jan 31 + one month = Feb 28/29), and ErrInvalidArgument when a bound is
// missing. A window from the first to the last day of a month is always valid.
func (w Window) Validate() error {
	if w.Start.IsZero() || w.End.IsZero() {
		return fmt.Errorf("%w: compensation window needs a start and an end date", ErrInvalidArgument)
	}
	start, end := dateOf(w.Start), dateOf(w.End)
	if end.Before(start) {
		return fmt.Errorf("%w: window %s ends before it starts", ErrWindowTooLong, w)
	}
	if !end.Before(addMonth(start)) {
		return fmt.Errorf("%w: window %s is longer than one month", ErrWindowTooLong, w)
	}
	return nil
}

// MonthWindows splits the dates from..to (inclusive) into calendar-month windows: the first
// starts at from, the last ends at to, the ones between cover whole months. It returns nil when
// to is before from. Bounds are UTC midnights of the dates of from and to.
func MonthWindows(from, to time.Time) []Window {
	start, end := dateOf(from), dateOf(to)
	var ws []Window
	for !start.After(end) {
		monthEnd := time.Date(start.Year(), start.Month()+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		w := Window{Start: start, End: monthEnd}
		if monthEnd.After(end) {
			w.End = end
		}
		ws = append(ws, w)
		start = monthEnd.AddDate(0, 0, 1)
	}
	return ws
}

// dateOf returns the UTC midnight of t's calendar date in t's own location.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// addMonth returns the same day one month later, clamped to the last day of that month.
func addMonth(t time.Time) time.Time {
	y, m, d := t.Date()
	last := time.Date(y, m+2, 0, 0, 0, 0, 0, time.UTC).Day() // last day of month m+1
	return time.Date(y, m+1, min(d, last), 0, 0, 0, 0, time.UTC)
}

// CompensationFilter narrows GET /v2/compensations. Window is required.
type CompensationFilter struct {
	Window         Window   // start_date, end_date; less than one month (see Window.Validate)
	PersonIDs      []string // person.id (comma list)
	LegalEntityIDs []string // legal_entity.id (comma list)
	Limit          int      // page size 1–100; 0 means 100
}

// ListCompensations lists the compensations effective in f.Window, calling fn once per page in
// order. Compensations have their own request budget (CompensationRateLimit). A window longer
// than a month is refused with ErrWindowTooLong; use MonthWindows to split a range.
func (c *Client) ListCompensations(ctx context.Context, f CompensationFilter, fn func([]Compensation) error) error {
	if err := f.Window.Validate(); err != nil {
		return fmt.Errorf("list compensations: %w", err)
	}
	limit, err := pageLimit(f.Limit, DefaultCompensationsLimit, MaxCompensationsLimit)
	if err != nil {
		return fmt.Errorf("list compensations: %w", err)
	}
	q := map[string][]string{
		"start_date": {dateOf(f.Window.Start).Format(time.DateOnly)},
		"end_date":   {dateOf(f.Window.End).Format(time.DateOnly)},
		"limit":      {strconv.Itoa(limit)},
	}
	if err := setList(q, "person.id", f.PersonIDs); err != nil {
		return fmt.Errorf("list compensations: %w", err)
	}
	if err := setList(q, "legal_entity.id", f.LegalEntityIDs); err != nil {
		return fmt.Errorf("list compensations: %w", err)
	}
	u := c.endpointURL(q, "v2", "compensations")
	if err := list(ctx, c, endpointListCompensations, c.comps, u, fn); err != nil {
		return c.scrub(fmt.Errorf("list compensations %s: %w", f.Window, err))
	}
	return nil
}
