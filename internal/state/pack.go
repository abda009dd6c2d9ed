package state

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Records are compressed with s2 and a dictionary learnt from the records of the entity
// itself: a record alone is too short for a compressor to find much to share (a simulated
// person of about 740 bytes shrinks by some 14 % on its own), but the records of one company
// repeat each other's attribute ids, labels, enumerations, dates and domains, and against a
// dictionary of them the same person takes about a third of its size. A dictionary is learnt
// once per store and entity from the first compaction with enough data and never changes:
// every compressed entry points to the packing it was compressed with.

// packing says how an Entry's Data holds the record.
type packing struct {
	dict *s2.Dict // nil: a plain s2 block
}

// plainPacking compresses without a dictionary, until there is enough data to learn one.
var plainPacking = &packing{}

// Dictionary sizes: learn one only from at least dictMinSample bytes of records, and use up to
// s2's maximum.
const (
	dictMinSample = 16 << 10
	dictMaxSample = s2.MaxDictSize
)

// learnPacking returns a packing with a dictionary learnt from records, or nil when they are
// too few to learn one.
func learnPacking(records [][]byte) *packing {
	var sample []byte
	for _, r := range records {
		if len(sample)+len(r) > dictMaxSample {
			break
		}
		sample = append(sample, r...)
	}
	if len(sample) < dictMinSample {
		return nil
	}
	d := s2.MakeDict(sample, nil)
	if d == nil {
		return nil
	}
	return &packing{dict: d}
}

// pack returns record compressed.
func (p *packing) pack(record []byte) []byte {
	buf := packBuffers.Get().(*[]byte)
	defer packBuffers.Put(buf)
	if n := s2.MaxEncodedLen(len(record)); n > cap(*buf) {
		if n > maxPackBuffer {
			b := make([]byte, n) // not kept for reuse
			buf = &b
		} else {
			*buf = make([]byte, n)
		}
	}
	var out []byte
	if p.dict == nil {
		out = s2.Encode((*buf)[:cap(*buf)], record)
	} else {
		out = p.dict.Encode((*buf)[:cap(*buf)], record)
	}
	return bytes.Clone(out) // the buffer has room for the worst case; keep what was used
}

func (p *packing) decode(data []byte) ([]byte, error) {
	if p.dict == nil {
		return s2.Decode(nil, data)
	}
	return p.dict.Decode(nil, data)
}

// maxPackBuffer bounds the buffers kept for compressing records.
const maxPackBuffer = 256 << 10

var packBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}
