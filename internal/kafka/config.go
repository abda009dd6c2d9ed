package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms accepted in SASLConfig.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Compression codecs accepted in Config.Compression.
const (
	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionSnappy = "snappy"
	CompressionLz4    = "lz4"
	CompressionZstd   = "zstd"
)

// Config configures a Client. The zero value of every optional field means
// its documented default.
type Config struct {
	// Brokers are the bootstrap host:port addresses (required).
	Brokers []string
	// ClientID identifies the service to the brokers (default "personio-cdc").
	ClientID string
	// TLS configures encrypted connections.
	TLS TLSConfig
	// SASL configures authentication.
	SASL SASLConfig
	// DialTimeout bounds connection set-up incl. TLS and SASL (default 10s).
	DialTimeout time.Duration

	// BatchSize is the most messages per produce batch and partition
	// (default 1000).
	BatchSize int
	// BatchBytes is the largest produce batch in bytes (default 1 MiB), lowered to what the
	// topics' max.message.bytes allow (see Client.MessageLimits); no message can be larger.
	BatchBytes int64
	// BatchTimeout is how long an incomplete batch waits for more messages
	// (default 5ms). Publish is synchronous, so this is paid once per call at most.
	BatchTimeout time.Duration
	// Compression is none, gzip, snappy, lz4 or zstd (default none).
	Compression string
	// WriteTimeout bounds one produce round trip (default 10s).
	WriteTimeout time.Duration
	// MaxAttempts is how often the writer tries one batch before giving up
	// (default 5); attempts keep the batch's place in its partition.
	MaxAttempts int
	// PublishRetries is how many extra rounds Publish spends on messages
	// that failed retryably after MaxAttempts, where that cannot reorder a
	// key (default 4, 3 s of pauses in all; -1 disables).
	PublishRetries int

	// Registerer receives the metrics (default: none are exported).
	Registerer prometheus.Registerer
	// Logger receives warnings (default: discarded).
	Logger *slog.Logger
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	Enabled bool
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool
	// ServerName overrides the name checked in the broker certificate.
	ServerName string
}

// SASLConfig configures SASL authentication. An empty Mechanism disables it.
type SASLConfig struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string
	Password  string // never logged
}

// DefaultWriteTimeout bounds one produce round trip, and how long a cancelled Publish waits
// for the verdict on the messages already on their way.
const DefaultWriteTimeout = 10 * time.Second

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "personio-cdc"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.Compression == "" {
		c.Compression = CompressionNone
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.PublishRetries == 0 {
		c.PublishRetries = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate returns every problem at once, each naming its setting.
func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka brokers: at least one host:port is required"))
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("kafka brokers: %q is not host:port", b))
		}
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafka dial timeout %v must be positive", c.DialTimeout))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("kafka batch size %d must be positive", c.BatchSize))
	}
	if c.BatchBytes < 0 {
		errs = append(errs, fmt.Errorf("kafka batch bytes %d must be positive", c.BatchBytes))
	}
	if c.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafka batch timeout %v must be positive", c.BatchTimeout))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafka write timeout %v must be positive", c.WriteTimeout))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("kafka max attempts %d must be positive", c.MaxAttempts))
	}
	if c.PublishRetries < -1 {
		errs = append(errs, fmt.Errorf("kafka publish retries %d must be -1 or more", c.PublishRetries))
	}
	if _, err := compressionOf(c.Compression); err != nil {
		errs = append(errs, err)
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" {
			errs = append(errs, errors.New("kafka SASL username/password set but no SASL mechanism"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASL.Username == "" {
			errs = append(errs, errors.New("kafka SASL username is required with a SASL mechanism"))
		}
		if c.SASL.Password == "" {
			errs = append(errs, errors.New("kafka SASL password is required with a SASL mechanism"))
		}
	default:
		errs = append(errs, fmt.Errorf("kafka SASL mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism))
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.InsecureSkipVerify || c.TLS.ServerName != "") {
		errs = append(errs, errors.New("kafka TLS options set but TLS is not enabled"))
	}
	if c.TLS.Enabled && c.TLS.CAFile != "" {
		if _, err := loadCA(c.TLS.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func compressionOf(name string) (kafkago.Compression, error) {
	switch strings.ToLower(name) {
	case "", CompressionNone:
		return 0, nil
	case CompressionGzip:
		return kafkago.Gzip, nil
	case CompressionSnappy:
		return kafkago.Snappy, nil
	case CompressionLz4:
		return kafkago.Lz4, nil
	case CompressionZstd:
		return kafkago.Zstd, nil
	}
	return 0, fmt.Errorf("kafka compression %q is not none, gzip, snappy, lz4 or zstd", name)
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kafka TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("kafka TLS CA file %s: no PEM certificates", path)
	}
	return pool, nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // explicit opt-in for test set-ups
		ServerName:         c.TLS.ServerName,
	}
	if c.TLS.CAFile != "" {
		pool, err := loadCA(c.TLS.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func (c *Config) saslMechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(c.SASL.Mechanism) {
	case SASLPlain:
		return plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}, nil
	case SASLScramSHA256:
		m, err := scram.Mechanism(scram.SHA256, c.SASL.Username, c.SASL.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka SASL %s: %w", SASLScramSHA256, err)
		}
		return m, nil
	case SASLScramSHA512:
		m, err := scram.Mechanism(scram.SHA512, c.SASL.Username, c.SASL.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka SASL %s: %w", SASLScramSHA512, err)
		}
		return m, nil
	}
	return nil, nil
}
