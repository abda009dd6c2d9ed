package codec

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"

	"github.com/hamba/avro/v2"
)

// MagicByte is the first byte of every Confluent wire-format message.
const MagicByte byte = 0x00

// HeaderSize is the length of the wire-format header: magic byte and schema id.
const HeaderSize = 5

// maxPooledBuffer bounds the encode buffers kept for reuse.
const maxPooledBuffer = 1 << 20

// SchemaSource resolves a schema id to the writer schema. *Registry is one.
type SchemaSource interface {
	SchemaByID(ctx context.Context, id int) (avro.Schema, error)
}

// Codec encodes and decodes values in the Confluent wire format. It is safe
// for concurrent use.
type Codec struct {
	source  SchemaSource
	api     avro.API
	writers sync.Pool // *avro.Writer

	mu       sync.RWMutex
	resolved map[resolveKey]avro.Schema
}

type resolveKey struct {
	id     int
	reader [32]byte // cache fingerprint; zero for "decode with the writer schema"
}

// New returns a Codec that looks writer schemas up in source when decoding.
// source may be nil for a Codec that only encodes.
func New(source SchemaSource) *Codec {
	c := &Codec{
		source:   source,
		api:      avro.Config{}.Freeze(),
		resolved: make(map[resolveKey]avro.Schema),
	}
	c.writers.New = func() any { return avro.NewWriter(nil, 1024, avro.WithWriterConfig(c.api)) }
	return c
}

// Encode returns v encoded with schema in the wire format under schema id id.
// Every decimal in v must fit the schema exactly (see CheckDecimals), and be
// held as *big.Rat (required) or **big.Rat (nullable union): hamba/avro
// v2.31 silently decodes big.Rat values and union *big.Rat wrongly, so those
// Go types are refused with ErrUnsupportedType in both directions. The result
// is a fresh slice the caller owns; the work buffer is pooled.
func (c *Codec) Encode(id int, schema avro.Schema, v any) ([]byte, error) {
	return c.encode(nil, id, schema, v, true)
}

// AppendEncode is Encode appending to dst, for callers that reuse buffers.
func (c *Codec) AppendEncode(dst []byte, id int, schema avro.Schema, v any) ([]byte, error) {
	return c.encode(dst, id, schema, v, true)
}

func (c *Codec) encode(dst []byte, id int, schema avro.Schema, v any, check bool) ([]byte, error) {
	if id < 0 || int64(id) > int64(^uint32(0)) {
		return dst, fmt.Errorf("codec: encode: schema id %d out of range", id)
	}
	if check {
		if err := CheckDecimals(schema, v); err != nil {
			return dst, err
		}
	}
	return c.appendBody(dst, func(dst []byte, n int) []byte {
		if dst == nil {
			dst = make([]byte, 0, HeaderSize+n)
		}
		return AppendHeader(dst, id)
	}, schema, v)
}

// AppendRecord appends the bare Avro binary encoding of v with schema (no wire header) to
// dst, with the same decimal guard and Go type rules as Encode. The records in normal form
// (pipeline/change.AppendRecord) are encoded with it: that encoding is what the content hash
// and the state hold.
func (c *Codec) AppendRecord(dst []byte, schema avro.Schema, v any) ([]byte, error) {
	if err := CheckDecimals(schema, v); err != nil {
		return dst, err
	}
	return c.appendBody(dst, nil, schema, v)
}

// appendBody encodes v with schema on a pooled writer and appends it to dst, after what
// head (when not nil) appends given the body's length. On error dst is returned unchanged.
func (c *Codec) appendBody(dst []byte, head func(dst []byte, n int) []byte, schema avro.Schema, v any) ([]byte, error) {
	w := c.writers.Get().(*avro.Writer)
	w.Reset(nil)
	w.Error = nil
	w.WriteVal(schema, v)
	if err := w.Error; err != nil {
		w.Error = nil
		c.writers.Put(w)
		return dst, fmt.Errorf("codec: encode: %w", err)
	}
	body := w.Buffer()
	if head != nil {
		dst = head(dst, len(body))
	}
	dst = append(dst, body...)
	if cap(body) <= maxPooledBuffer {
		c.writers.Put(w)
	}
	return dst, nil
}

// AppendHeader appends the 5-byte wire header for schema id to dst.
func AppendHeader(dst []byte, id int) []byte {
	dst = append(dst, MagicByte)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// SplitHeader returns the schema id and the Avro body of a wire-format
// message; errors wrap ErrShortPayload or ErrBadMagicByte.
func SplitHeader(data []byte) (id int, body []byte, err error) {
	if len(data) < HeaderSize {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrShortPayload, len(data))
	}
	if data[0] != MagicByte {
		return 0, nil, fmt.Errorf("%w: 0x%02x", ErrBadMagicByte, data[0])
	}
	return int(binary.BigEndian.Uint32(data[1:HeaderSize])), data[HeaderSize:], nil
}

// Decode decodes a wire-format message into into (a pointer). The writer
// schema is fetched by id from the SchemaSource (which caches); when reader
// is non-nil and differs from the writer schema, the data is resolved
// writer→reader per the Avro rules (an added field with a default is filled
// in). A nil reader decodes with the writer schema.
func (c *Codec) Decode(ctx context.Context, data []byte, reader avro.Schema, into any) error {
	id, body, err := SplitHeader(data)
	if err != nil {
		return err
	}
	schema, err := c.readSchema(ctx, id, reader)
	if err != nil {
		return err
	}
	if into != nil {
		if _, err := planFor(schema, reflect.TypeOf(into)); err != nil {
			return err
		}
	}
	if err := c.api.Unmarshal(schema, body, into); err != nil {
		return fmt.Errorf("codec: decode schema id %d: %w", id, err)
	}
	return nil
}

func (c *Codec) readSchema(ctx context.Context, id int, reader avro.Schema) (avro.Schema, error) {
	k := resolveKey{id: id}
	if reader != nil {
		k.reader = reader.CacheFingerprint()
	}
	c.mu.RLock()
	s, ok := c.resolved[k]
	c.mu.RUnlock()
	if ok {
		return s, nil
	}
	if c.source == nil {
		return nil, fmt.Errorf("%w: %d (codec has no schema source)", ErrUnknownSchemaID, id)
	}
	writer, err := c.source.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	s = writer
	if reader != nil && reader.Fingerprint() != writer.Fingerprint() {
		s, err = avro.NewSchemaCompatibility().Resolve(reader, writer)
		if err != nil {
			return nil, fmt.Errorf("codec: resolve writer schema %d against the reader schema: %w", id, err)
		}
	}
	c.mu.Lock()
	c.resolved[k] = s
	c.mu.Unlock()
	return s, nil
}
