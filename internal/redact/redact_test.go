package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	secret = "s3cr3t-<&>\"quoted\"-value"
	other  = "kafka-pass-9f1e"
)

type creds struct{ User, Pass string }

type stringer struct{}

func (stringer) String() string { return "pass=" + other }

func TestHandlerRedactsEverywhere(t *testing.T) {
	r := New(secret, other, "")
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			log := r.Logger(slog.New(h)).With("preset", "token "+secret)
			err := fmt.Errorf("token: %w", errors.New(`400 {"error_description":"client_secret `+secret+` is wrong"}`))
			log.Error("refused "+other, "err", err, "detail", "pw "+other,
				slog.Group("g", "inner", secret, "n", 3), "creds", creds{"svc", other}, "s", stringer{},
				"bytes", []byte(secret))
			log.WithGroup("grp").Info("x", "k", secret)
			out := buf.String()
			escaped, _ := json.Marshal(secret)
			for _, s := range []string{secret, other, string(escaped[1 : len(escaped)-1]), "s3cr3t"} {
				if strings.Contains(out, s) {
					t.Errorf("log carries %q:\n%s", s, out)
				}
			}
			if n := strings.Count(out, Replacement); n < 8 {
				t.Errorf("%d redactions, want at least 8:\n%s", n, out)
			}
			if !strings.Contains(out, "svc") || !strings.Contains(out, "client_secret") {
				t.Errorf("redaction removed more than the secrets:\n%s", out)
			}
		})
	}
}

func TestWriterAndJSON(t *testing.T) {
	r := New(secret)
	var buf bytes.Buffer
	fmt.Fprintf(r.Writer(&buf), "error: %s\n", secret)
	if strings.Contains(buf.String(), secret) || buf.String() != "error: "+Replacement+"\n" {
		t.Errorf("writer wrote %q", buf.String())
	}
	raw, err := r.JSON(map[string]string{"last_error": "echo " + secret})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]string
	if err := json.Unmarshal(raw, &back); err != nil || back["last_error"] != "echo "+Replacement {
		t.Errorf("JSON %s (%v), want valid JSON with the secret redacted", raw, err)
	}
	var none *Redactor
	if none.String(secret) != secret || New("").Active() {
		t.Error("a redactor without secrets changed the text")
	}
}
