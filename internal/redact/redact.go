// Package redact removes configured secrets from text on its way out of the process: log
// records, /status and command output. It is the last line of defence: the clients already
// keep secrets out of their errors, but a server that echoes a credential in an error body, or
// an error this project did not foresee, must not carry it any further.
package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Replacement is what a secret is replaced with.
const Replacement = "<redacted>"

// Redactor replaces every occurrence of a set of secrets. The zero value and nil redact
// nothing. It is safe for concurrent use.
type Redactor struct {
	secrets  []string
	replacer *strings.Replacer
}

// New returns a Redactor for the given secrets; empty ones are ignored. Besides each secret
// itself it replaces the secret as JSON encodes it inside a string (a secret with a quote,
// a backslash or <, >, & changes there).
func New(secrets ...string) *Redactor {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms, s)
		if b, err := json.Marshal(s); err == nil {
			if q := string(b[1 : len(b)-1]); q != s {
				forms = append(forms, q)
			}
		}
	}
	if len(forms) == 0 {
		return &Redactor{}
	}
	// Longer forms first: a secret that contains another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	forms = slices.Compact(forms)
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Replacement)
	}
	return &Redactor{secrets: forms, replacer: strings.NewReplacer(pairs...)}
}

// Active reports whether r has any secret to redact.
func (r *Redactor) Active() bool { return r != nil && r.replacer != nil }

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if !r.Active() {
		return s
	}
	return r.replacer.Replace(s)
}

// Bytes returns b with every secret replaced (b itself when there is none).
func (r *Redactor) Bytes(b []byte) []byte {
	if !r.Active() || !r.contains(b) {
		return b
	}
	return []byte(r.replacer.Replace(string(b)))
}

func (r *Redactor) contains(b []byte) bool {
	for _, s := range r.secrets {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// JSON marshals v and redacts the result; the bytes stay valid JSON, since the replacement
// needs no escaping.
func (r *Redactor) JSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return r.Bytes(b), nil
}

// Writer returns a writer that redacts every Write before passing it to w. Each Write is
// redacted on its own: write a line (or a document) at a time, as fmt.Fprint* does.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	if !r.Active() {
		return w
	}
	return writer{r: r, w: w}
}

type writer struct {
	r *Redactor
	w io.Writer
}

func (w writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.r.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Handler wraps h so that no record reaches it with a secret: in the message, in a string
// attribute, in an error (logged by its text), in a value that prints a secret, in groups.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if !r.Active() {
		return h
	}
	return handler{r: r, next: h}
}

// Logger returns a logger whose handler is l's, wrapped by Handler.
func (r *Redactor) Logger(l *slog.Logger) *slog.Logger {
	if !r.Active() {
		return l
	}
	if h, ok := l.Handler().(handler); ok && slices.Equal(h.r.secrets, r.secrets) {
		return l // already redacts the same secrets
	}
	return slog.New(r.Handler(l.Handler()))
}

type handler struct {
	r    *Redactor
	next slog.Handler
}

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return handler{r: h.r, next: h.next.WithAttrs(clean)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{r: h.r, next: h.next.WithGroup(h.r.String(name))}
}

// attr returns a with every secret replaced in its value (and key).
func (h handler) attr(a slog.Attr) slog.Attr {
	a.Key = h.r.String(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.r.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		clean := make([]slog.Attr, len(attrs))
		for i, g := range attrs {
			clean[i] = h.attr(g)
		}
		a.Value = slog.GroupValue(clean...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			// An error is logged by its text; redact that text.
			a.Value = slog.StringValue(h.r.String(x.Error()))
		case []byte:
			a.Value = v
			if h.r.contains(x) {
				a.Value = slog.StringValue(string(h.r.Bytes(x)))
			}
		default:
			// A value that would print a secret (a struct, a map, a Stringer) is logged as
			// its redacted text; any other keeps its own encoding.
			if s := fmt.Sprint(x); s != h.r.String(s) {
				a.Value = slog.StringValue(h.r.String(s))
			} else if b, err := json.Marshal(x); err == nil && h.r.contains(b) {
				a.Value = slog.StringValue(string(h.r.Bytes(b)))
			} else {
				a.Value = v
			}
		}
	default:
		a.Value = v
	}
	return a
}
