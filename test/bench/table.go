package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Figure is one line of the benchmark table.
type Figure struct {
	Name  string
	Value float64
	Unit  string // printed after the value, e.g. "s" or "%"; may be empty
	// Goal is the target, e.g. "<= 1.05"; empty for a figure given for information.
	Goal string
	// Note says how the figure was measured when that is not obvious.
	Note string
}

// Status returns PASS or MISS against the goal, or "info" when there is none.
func (f Figure) Status() string {
	if f.Goal == "" {
		return "info"
	}
	op, limit, ok := parseGoal(f.Goal)
	if !ok {
		return "info"
	}
	pass := false
	switch op {
	case "<=":
		pass = f.Value <= limit
	case ">=":
		pass = f.Value >= limit
	case "==":
		pass = f.Value == limit
	}
	if pass {
		return "PASS"
	}
	return "MISS"
}

func parseGoal(g string) (op string, limit float64, ok bool) {
	g = strings.TrimSpace(g)
	for _, o := range []string{"<=", ">=", "=="} {
		if rest, found := strings.CutPrefix(g, o); found {
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), "%"), &limit); err != nil {
				return "", 0, false
			}
			return o, limit, true
		}
	}
	return "", 0, false
}

// FormatValue prints a value with a precision that suits its size.
func FormatValue(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15 && v > -1e15:
		return fmt.Sprintf("%d", int64(v))
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// Line is the figure as one "name: value" line with its goal and status.
func (f Figure) Line() string {
	s := f.Name + ": " + FormatValue(f.Value) + f.Unit
	if f.Goal != "" {
		s += "  (goal " + f.Goal + ") " + f.Status()
	}
	return s
}

// WriteLines prints one line per figure.
func WriteLines(w io.Writer, figs []Figure) error {
	for _, f := range figs {
		if _, err := fmt.Fprintln(w, f.Line()); err != nil {
			return err
		}
	}
	return nil
}

// Header is what the table in docs/BENCHMARKS.md says about its run.
type Header struct {
	Command, Date, CPU, Go, Scale string
	Cores                         int
	Notes                         []string
}

const (
	tableBegin = "<!-- bench:begin -->"
	tableEnd   = "<!-- bench:end -->"
)

// WriteTable writes the results block: the run's header and a Markdown table.
func WriteTable(w io.Writer, h Header, figs []Figure) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, tableBegin)
	fmt.Fprintf(bw, "Command: `%s`  \n", h.Command)
	fmt.Fprintf(bw, "Date: %s  \n", h.Date)
	fmt.Fprintf(bw, "Machine: %s, %d cores, %s  \n", h.CPU, h.Cores, h.Go)
	fmt.Fprintf(bw, "Scale: %s\n\n", h.Scale)
	fmt.Fprintln(bw, "| figure | value | goal | status | how |")
	fmt.Fprintln(bw, "|---|---|---|---|---|")
	for _, f := range figs {
		goal := f.Goal
		if goal == "" {
			goal = "–"
		}
		fmt.Fprintf(bw, "| `%s` | %s%s | %s | %s | %s |\n", f.Name, FormatValue(f.Value), f.Unit, goal, f.Status(),
			strings.ReplaceAll(f.Note, "|", "\\|"))
	}
	if len(h.Notes) > 0 {
		fmt.Fprintln(bw)
		for _, n := range h.Notes {
			fmt.Fprintf(bw, "- %s\n", n)
		}
	}
	fmt.Fprintln(bw, tableEnd)
	return bw.Flush()
}

// ParseTable reads the figures back from a results block (name, value text, goal, status).
func ParseTable(r io.Reader) ([][4]string, error) {
	var rows [][4]string
	sc := bufio.NewScanner(r)
	in := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == tableBegin:
			in = true
			continue
		case line == tableEnd:
			return rows, nil
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 4 {
			return nil, fmt.Errorf("bad table row %q", line)
		}
		rows = append(rows, [4]string{strings.Trim(strings.TrimSpace(cells[0]), "`"), strings.TrimSpace(cells[1]),
			strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !in {
		return nil, fmt.Errorf("no %s block", tableBegin)
	}
	return nil, fmt.Errorf("no %s line", tableEnd)
}

// ReplaceBlock returns doc with its results block replaced by block, or block appended when
// doc has none.
func ReplaceBlock(doc, block string) string {
	i := strings.Index(doc, tableBegin)
	j := strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + block
	}
	rest := doc[j+len(tableEnd):]
	rest = strings.TrimPrefix(rest, "\n")
	return doc[:i] + block + rest
}
