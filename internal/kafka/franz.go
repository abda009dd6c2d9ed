package kafka

import (
	"context"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// FranzOpts returns the github.com/twmb/franz-go client options that reach the brokers exactly
// as a Client made from the same Config does: seed brokers, client id, dial timeout, TLS and
// SASL. Packages that need what kafka-go lacks (consumer groups with cooperative rebalancing,
// transactions) build their kgo client from it, so every connection of the process shares one
// set of settings. The Config is validated first; the error names every bad setting.
func (c Config) FranzOpts() ([]kgo.Opt, error) {
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.DialTimeout),
		kgo.WithLogger(FranzLogger(c.Logger)),
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	auth := scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(auth.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(auth.AsSha512Mechanism()))
	}
	return opts, nil
}

// FranzLogger adapts l to franz-go's logger: its warnings and errors only (franz-go logs every
// connection and group session at info level, which belongs in metrics, not in the log).
func FranzLogger(l *slog.Logger) kgo.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return franzLogger{l: l.With("component", "franz-go")}
}

type franzLogger struct{ l *slog.Logger }

func (f franzLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (f franzLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelInfo:
		lv = slog.LevelInfo
	case kgo.LogLevelDebug:
		lv = slog.LevelDebug
	}
	f.l.Log(context.Background(), lv, msg, keyvals...)
}
