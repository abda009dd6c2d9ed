package config

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Secret prints instead of its value.
const Redacted = "<redacted>"

// Secret is a credential. It never prints its value: String, GoString, every fmt verb, slog and
// JSON/text encoding all show Redacted (or nothing when the secret is empty). Use Value to hand
// the real value to the component that needs it.
type Secret string

// Value returns the secret itself. Call it only where the credential is used.
func (s Secret) Value() string { return string(s) }

// IsSet reports whether the secret holds a value.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.redacted() }

// GoString implements fmt.GoStringer (the %#v verb).
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.redacted()) }

// Format implements fmt.Formatter so that no verb (%x, %d, %q, …) can reveal the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
	case 'q':
		_, _ = fmt.Fprintf(f, "%q", s.redacted())
		return
	}
	_, _ = f.Write([]byte(s.redacted()))
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalText implements encoding.TextMarshaler (and with it JSON encoding).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }
