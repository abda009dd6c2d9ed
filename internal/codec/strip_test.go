package codec

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"strconv"
	"testing"

	"github.com/hamba/avro/v2"
)

const stripSchema = `{"type":"record","name":"R","fields":[
 {"name":"id","type":"string"},
 {"name":"at","type":["null","long"]},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[
   {"name":"k","type":"string"},{"name":"at","type":["null","long"]},{"name":"f","type":{"type":"fixed","name":"F","size":2}}]}}},
 {"name":"tags","type":{"type":"map","values":"double"}},
 {"name":"ok","type":"boolean"}]}`

type stripItem struct {
	K  string  `avro:"k"`
	At *int64  `avro:"at"`
	F  [2]byte `avro:"f"`
}

type stripRecord struct {
	ID    string             `avro:"id"`
	At    *int64             `avro:"at"`
	Items []stripItem        `avro:"items"`
	Tags  map[string]float64 `avro:"tags"`
	OK    bool               `avro:"ok"`
}

// TestStripperLeavesOutFieldsAndBlockSizes: what a Stripper leaves is the encoding without
// the dropped fields and the block sizes, so records that differ only there strip alike, and
// records that differ anywhere else do not.
func TestStripperLeavesOutFieldsAndBlockSizes(t *testing.T) {
	schema := avro.MustParse(stripSchema)
	s, err := NewStripper(schema, "at", "items.at")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(at int64, key string) *stripRecord {
		r := &stripRecord{ID: "x", At: &at, Tags: map[string]float64{"a": 1.5}, OK: true}
		for i := range 150 { // two blocks
			r.Items = append(r.Items, stripItem{K: key + strconv.Itoa(i), At: &at, F: [2]byte{1, 2}})
		}
		return r
	}
	strip := func(r *stripRecord) []byte {
		data, err := avro.Marshal(schema, r)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Append([]byte("p"), data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out, []byte("p")) {
			t.Fatal("Append lost dst")
		}
		return out[1:]
	}
	base := strip(mk(1, "k"))
	if got := strip(mk(1<<40, "k")); !bytes.Equal(got, base) {
		t.Error("a dropped field (of another encoded length) changed what is left")
	}
	nilAt := mk(1, "k")
	nilAt.At = nil
	if got := strip(nilAt); !bytes.Equal(got, base) {
		t.Error("a dropped field set to null changed what is left")
	}
	if got := strip(mk(1, "j")); bytes.Equal(got, base) {
		t.Error("a kept field changed and what is left did not")
	}
	// What is left: id, then the first block's count (negative, as written) without its
	// size, its items without at.
	want := []byte{2, 'x'}
	want = binary.AppendVarint(want, -100)
	want = append(want, 4, 'k', '0', 1, 2)
	if !bytes.HasPrefix(base, want) {
		t.Errorf("stripped % x…, want % x…", base[:len(want)], want)
	}

	if _, err := NewStripper(schema, "nope"); err == nil {
		t.Error("a path that names no field was accepted")
	}
	if _, err := s.Append(nil, []byte{2}); err == nil {
		t.Error("a truncated encoding was accepted")
	}
	data, _ := avro.Marshal(schema, mk(1, "k"))
	if _, err := s.Append(nil, append(data, 0)); err == nil {
		t.Error("trailing bytes were accepted")
	}
}

// TestAppendSplicedMatchesEncode: an envelope written with its records spliced in from their
// encodings is byte for byte the envelope encoded whole.
func TestAppendSplicedMatchesEncode(t *testing.T) {
	schema := mustSchema(t, "envelope.avsc")
	itemSchema := schema.(*avro.RecordSchema).Fields()[1].Type().(*avro.UnionSchema).Types()[1]
	c := New(nil)
	for _, e := range []*envelope{
		{Op: "c", After: &item{Amount: rat(t, "4100.25"), Hours: ptr(rat(t, "38.5"))}, Extras: map[string]*big.Rat{"bonus": rat(t, "1")}},
		{Op: "u", Before: &item{Amount: rat(t, "-1")}, After: &item{Amount: rat(t, "2")}},
		{Op: "d", Before: &item{Amount: rat(t, "0")}},
	} {
		want, err := c.Encode(9, schema, e)
		if err != nil {
			t.Fatal(err)
		}
		rec := func(it *item) []byte {
			if it == nil {
				return nil
			}
			b, err := c.AppendRecord(nil, itemSchema, it)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		bare := *e
		bare.Before, bare.After = nil, nil
		got, err := c.AppendSpliced([]byte("p"), 9, schema, &bare, Spliced{"before", rec(e.Before)}, Spliced{"after", rec(e.After)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append([]byte("p"), want...)) {
			t.Errorf("%s: spliced % x\nwant          % x", e.Op, got[1:], want)
		}
	}
	if _, err := c.AppendSpliced(nil, 9, schema, &envelope{Op: "c", After: &item{Amount: rat(t, "1")}}, Spliced{"after", []byte{0}}); err == nil {
		t.Error("a spliced field that the value holds was accepted")
	}
}
