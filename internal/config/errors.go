package config

import "strings"

// Problem is one thing wrong with the configuration. Message names the setting and never
// contains a secret.
type Problem struct {
	// Setting is the environment variable name of the setting at fault (empty when the
	// problem is with the command line as a whole).
	Setting string
	Message string
}

// Error is an invalid configuration: every problem found, not only the first.
type Error struct {
	Problems []Problem
}

// Error lists every problem, one per line.
func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0].Message
	}
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Message)
	}
	return b.String()
}
