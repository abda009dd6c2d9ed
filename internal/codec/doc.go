// Package codec owns the Avro side of the pipeline: the Confluent wire format
// (magic byte 0x00, a 4-byte big-endian schema id, Avro binary), a schema
// registry client with id caches, and the money guard that refuses a decimal
// which the schema cannot carry exactly.
//
// It is the only package that imports github.com/hamba/avro/v2
// (TestOnlyCodecImportsTheAvroLibrary holds it to that); everything else
// parses schemas with ParseSchema, holds them as Schema, looks inside one with
// Describe, and hands the codec a schema and a Go value with `avro` struct
// tags. The pipeline's records are encoded here from their schemas alone
// (AppendRecord); an envelope takes them as bytes (AppendSpliced), and the
// content hash reads their encodings without the volatile fields (Stripper).
//
// A typical producer registers its schema before each batch of work (a
// sync) and then encodes many values with the id it got. Register confirms
// the id with the registry every time, so that an id a registry reset gave to
// another schema is replaced or refused (ErrSchemaIDMismatch), never used:
//
//	reg, err := codec.NewRegistry(url)
//	id, err := reg.Register(ctx, codec.Subject(topic), schema)
//	c := codec.New(reg)
//	value, err := c.Encode(id, schema, &event)
//
// A consumer decodes with the schema it was built against; the writer schema
// is fetched from the registry by id (cached) and resolved against it:
//
//	err := c.Decode(ctx, value, readerSchema, &event)
package codec
