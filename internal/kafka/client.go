package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	kafkago "github.com/segmentio/kafka-go"
)

// Client is a Kafka connection pool with a producer and readers on top. It
// is safe for concurrent use. Close it when done.
type Client struct {
	cfg       Config
	transport *kafkago.Transport
	client    *kafkago.Client
	writer    *kafkago.Writer
	metrics   *metrics
	logger    *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}

	// writeMu is held for reading while the writer takes messages, for writing while
	// MessageLimits changes its batch size.
	writeMu sync.RWMutex
	limits  map[string]int // max.message.bytes by topic, as MessageLimits read them
	least   int            // the smallest of limits, DefaultMaxMessageBytes before any
	budget  atomic.Int64   // the most bytes a message may take (see CheckSize)
}

// New validates cfg and returns a Client. No connection is made until the
// first call; use Ping to check reachability. The error names every bad
// setting.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := cfg.saslMechanism()
	if err != nil {
		return nil, err
	}
	compression, _ := compressionOf(cfg.Compression)
	transport := &kafkago.Transport{
		DialTimeout: cfg.DialTimeout,
		ClientID:    cfg.ClientID,
		TLS:         tlsCfg,
		SASL:        mech,
		// kafka-go refreshes its view of partition leaders only this often; publish
		// retries (see Publish) outlast it, so a leader election is ridden out.
		MetadataTTL: metadataTTL,
	}
	addr := kafkago.TCP(cfg.Brokers...)
	c := &Client{
		cfg:       cfg,
		transport: transport,
		client:    &kafkago.Client{Addr: addr, Transport: transport},
		metrics:   newMetrics(cfg.Registerer),
		logger:    cfg.Logger.With("component", "kafka"),
		closed:    make(chan struct{}),
		limits:    map[string]int{},
	}
	c.writer = &kafkago.Writer{
		Addr:                   addr,
		Balancer:               &kafkago.Murmur2Balancer{},
		MaxAttempts:            cfg.MaxAttempts,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             cfg.BatchBytes,
		BatchTimeout:           cfg.BatchTimeout,
		WriteTimeout:           cfg.WriteTimeout,
		RequiredAcks:           kafkago.RequireAll,
		Async:                  false,
		Compression:            compression,
		Transport:              transport,
		AllowAutoTopicCreation: false,
	}
	c.setLimits(nil) // Kafka's default until MessageLimits reads the real ones
	return c, nil
}

// Ping checks that a broker answers a metadata request (for /readyz).
func (c *Client) Ping(ctx context.Context) error {
	if c.isClosed() {
		return ErrClosed
	}
	if _, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{}}); err != nil {
		return fmt.Errorf("kafka: ping: %w", err)
	}
	return nil
}

// Close flushes nothing (writes are synchronous), closes the writer and the
// idle connections. It is safe to call more than once.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.writer.Close()
		c.transport.CloseIdleConnections()
	})
	return err
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}
