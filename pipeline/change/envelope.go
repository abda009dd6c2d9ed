package change

import (
	"encoding/binary"
	"time"
)

// envelopeBlockLength is the number of array items per block, as hamba/avro writes them by
// default (Config.BlockLength 100).
const envelopeBlockLength = 100

// AppendEnvelope appends the Avro binary encoding of ev's envelope (PersonChange or
// CompensationChange) to dst, taking the before and after records as their Avro encodings
// (MarshalRecord, or the codec's record encoding): a nil slice stands for a null record. The
// records are spliced in unchanged; only the envelope's own fields are written here, byte for
// byte as hamba/avro encodes Envelope() with the entity schema.
func AppendEnvelope(dst []byte, ev Event, before, after []byte) []byte {
	dst = appendString(dst, ev.EventID)
	dst = appendString(dst, string(ev.Op))
	dst = appendMillis(dst, ev.TS)
	s := ev.Source
	dst = appendString(dst, s.Tenant)
	dst = appendString(dst, s.System)
	dst = appendString(dst, s.SyncID)
	dst = appendString(dst, s.SyncKind)
	dst = appendMillis(dst, s.ExtractedAt)
	if s.EntityUpdatedAt == nil {
		dst = appendLong(dst, 0)
	} else {
		dst = appendMillis(appendLong(dst, 1), *s.EntityUpdatedAt)
	}
	dst = appendRecord(dst, before)
	dst = appendRecord(dst, after)
	for i := 0; i < len(ev.ChangedFields); i += envelopeBlockLength {
		block := ev.ChangedFields[i:min(i+envelopeBlockLength, len(ev.ChangedFields))]
		size := 0
		for _, f := range block {
			size += varintLen(int64(len(f))) + len(f)
		}
		dst = appendLong(dst, -int64(len(block)))
		dst = appendLong(dst, int64(size))
		for _, f := range block {
			dst = appendString(dst, f)
		}
	}
	dst = appendLong(dst, 0)
	return appendLong(dst, ev.Version)
}

func appendRecord(dst, rec []byte) []byte {
	if rec == nil {
		return appendLong(dst, 0)
	}
	return append(appendLong(dst, 1), rec...)
}

func appendLong(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }

func appendString(dst []byte, s string) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}

// appendMillis writes a timestamp-millis the way hamba/avro computes it.
func appendMillis(dst []byte, t time.Time) []byte {
	return appendLong(dst, t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}
