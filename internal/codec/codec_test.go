package codec

import (
	"bytes"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

type line struct {
	Label  string   `avro:"label"`
	Amount *big.Rat `avro:"amount"`
}

type payment struct {
	ID     string    `avro:"id"`
	Amount *big.Rat  `avro:"amount"`
	Bonus  **big.Rat `avro:"bonus"`
	Lines  []line    `avro:"lines"`
	PaidOn time.Time `avro:"paid_on"`
}

type paymentV2 struct {
	payment
	Note *string `avro:"note"`
}

func mustSchema(t testing.TB, name string) avro.Schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := avro.ParseBytes(b)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return s
}

func rat(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad rational %q", s)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

func samplePayment(t testing.TB) *payment {
	return &payment{
		ID:     "p-1",
		Amount: rat(t, "4250.5"),
		Bonus:  ptr(rat(t, "-12.3456")),
		Lines:  []line{{Label: "base", Amount: rat(t, "4000.00")}, {Label: "extra", Amount: rat(t, "250.5")}},
		PaidOn: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
	}
}

func TestEncodeGolden(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	got, err := New(nil).Encode(42, schema, samplePayment(t))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "payment_v1.golden.bin")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wire bytes differ from %s:\n got %x\nwant %x", golden, got, want)
	}
	if !bytes.Equal(got[:5], []byte{0x00, 0x00, 0x00, 0x00, 0x2a}) {
		t.Fatalf("header = %x, want magic 0 and id 42 big-endian", got[:5])
	}

	// AppendEncode writes the same bytes after the given prefix.
	buf, err := New(nil).AppendEncode([]byte("xy"), 42, schema, samplePayment(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[2:], want) || string(buf[:2]) != "xy" {
		t.Fatalf("AppendEncode = %x", buf)
	}
}

func TestSplitHeader(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantID  int
		wantErr error
	}{
		{name: "empty", data: nil, wantErr: ErrShortPayload},
		{name: "four bytes", data: []byte{0, 0, 0, 1}, wantErr: ErrShortPayload},
		{name: "bad magic", data: []byte{1, 0, 0, 0, 1, 2}, wantErr: ErrBadMagicByte},
		{name: "header only", data: []byte{0, 0, 0, 0, 7}, wantID: 7},
		{name: "large id", data: []byte{0, 0x7f, 0xff, 0xff, 0xff, 9}, wantID: 1<<31 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, _, err := SplitHeader(tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if id != tt.wantID {
				t.Fatalf("id = %d, want %d", id, tt.wantID)
			}
		})
	}
}

func newFakeRegistry(t *testing.T, opts ...srfake.Option) (*srfake.Registry, *Registry) {
	t.Helper()
	fake := srfake.New(opts...)
	t.Cleanup(fake.Close)
	reg, err := NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	return fake, reg
}

func TestRoundTripThroughRegistry(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	schema := mustSchema(t, "payment_v1.avsc")
	id, err := reg.Register(ctx, Subject("test.payments"), schema)
	if err != nil {
		t.Fatal(err)
	}
	c := New(reg)
	in := samplePayment(t)
	data, err := c.Encode(id, schema, in)
	if err != nil {
		t.Fatal(err)
	}

	// A second codec with a fresh registry client must fetch the writer
	// schema by id from the registry.
	reg2, err := NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	var out payment
	if err := New(reg2).Decode(ctx, data, schema, &out); err != nil {
		t.Fatal(err)
	}
	assertPaymentEqual(t, in, &out)

	// Decoding with the writer schema (nil reader) gives the same value.
	var out2 payment
	if err := New(reg2).Decode(ctx, data, nil, &out2); err != nil {
		t.Fatal(err)
	}
	assertPaymentEqual(t, in, &out2)
}

func assertPaymentEqual(t *testing.T, want, got *payment) {
	t.Helper()
	if got.ID != want.ID || got.Amount.Cmp(want.Amount) != 0 || !got.PaidOn.Equal(want.PaidOn) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if (got.Bonus == nil) != (want.Bonus == nil) || (got.Bonus != nil && (*got.Bonus).Cmp(*want.Bonus) != 0) {
		t.Fatalf("bonus = %v, want %v", got.Bonus, want.Bonus)
	}
	if len(got.Lines) != len(want.Lines) {
		t.Fatalf("lines = %d, want %d", len(got.Lines), len(want.Lines))
	}
	for i := range want.Lines {
		if got.Lines[i].Label != want.Lines[i].Label || got.Lines[i].Amount.Cmp(want.Lines[i].Amount) != 0 {
			t.Fatalf("line %d = %+v, want %+v", i, got.Lines[i], want.Lines[i])
		}
	}
}

func TestDecodeSchemaEvolution(t *testing.T) {
	ctx := t.Context()
	_, reg := newFakeRegistry(t)
	v1 := mustSchema(t, "payment_v1.avsc")
	v2 := mustSchema(t, "payment_v2.avsc")
	subject := Subject("test.evolution")
	id1, err := reg.Register(ctx, subject, v1)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := reg.Register(ctx, subject, v2)
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 {
		t.Fatalf("v1 and v2 got the same id %d", id1)
	}
	c := New(reg)

	// Old writer, new reader: the added optional field takes its default.
	in := samplePayment(t)
	old, err := c.Encode(id1, v1, in)
	if err != nil {
		t.Fatal(err)
	}
	out := paymentV2{Note: new(string)} // must be reset to the default null
	if err := c.Decode(ctx, old, v2, &out); err != nil {
		t.Fatal(err)
	}
	assertPaymentEqual(t, in, &out.payment)
	if out.Note != nil {
		t.Fatalf("note = %q, want nil (default)", *out.Note)
	}

	// New writer, new reader: the field travels.
	note := "retro pay"
	newer, err := c.Encode(id2, v2, &paymentV2{payment: *in, Note: &note})
	if err != nil {
		t.Fatal(err)
	}
	var out2 paymentV2
	if err := c.Decode(ctx, newer, v2, &out2); err != nil {
		t.Fatal(err)
	}
	if out2.Note == nil || *out2.Note != note {
		t.Fatalf("note = %v, want %q", out2.Note, note)
	}

	// New writer, old reader: the unknown field is skipped.
	var out3 payment
	if err := c.Decode(ctx, newer, v1, &out3); err != nil {
		t.Fatal(err)
	}
	assertPaymentEqual(t, in, &out3)
}

func TestDecodeErrors(t *testing.T) {
	ctx := t.Context()
	_, reg := newFakeRegistry(t)
	schema := mustSchema(t, "plain.avsc")
	c := New(reg)
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{name: "short", data: []byte{0, 0}, wantErr: ErrShortPayload},
		{name: "bad magic", data: []byte{'{', '"', 'a', '"', ':', '1', '}'}, wantErr: ErrBadMagicByte},
		{name: "unknown id", data: []byte{0, 0, 0, 0x30, 0x39, 2, 'a', 2}, wantErr: ErrUnknownSchemaID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct {
				ID    string `avro:"id"`
				Count int64  `avro:"count"`
			}
			err := c.Decode(ctx, tt.data, schema, &v)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if Retryable(err) {
				t.Fatalf("%v classified retryable", err)
			}
		})
	}

	t.Run("truncated body", func(t *testing.T) {
		id, err := reg.Register(ctx, Subject("test.plain"), schema)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			ID    string `avro:"id"`
			Count int64  `avro:"count"`
		}
		data := AppendHeader(nil, id)
		data = append(data, 20, 'a') // string of length 10, one byte present
		if err := c.Decode(ctx, data, schema, &v); err == nil {
			t.Fatal("decoding a truncated body succeeded")
		}
	})
}

func TestEncodeRejectsInexactDecimals(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	c := New(nil)
	p := samplePayment(t)
	p.Amount = rat(t, "0.12345")
	data, err := c.Encode(1, schema, p)
	if !errors.Is(err, ErrInexactDecimal) {
		t.Fatalf("Encode(0.12345 at scale 4) = %x, %v; want ErrInexactDecimal", data, err)
	}
	var de *DecimalError
	if !errors.As(err, &de) || de.Path != "amount" || de.Scale != 4 {
		t.Fatalf("error = %#v, want path amount scale 4", err)
	}
	if Retryable(err) {
		t.Fatal("decimal error classified retryable")
	}
}

func TestAppendRecord(t *testing.T) {
	schema := mustSchema(t, "payment_v1.avsc")
	c := New(nil)
	p := samplePayment(t)
	wire, err := c.Encode(3, schema, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.AppendRecord([]byte{7}, schema, p)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 7 || !bytes.Equal(got[1:], wire[HeaderSize:]) {
		t.Fatalf("AppendRecord = %x, want 07 followed by the body of Encode %x", got, wire[HeaderSize:])
	}
	p.Amount = rat(t, "0.12345")
	if out, err := c.AppendRecord([]byte{7}, schema, p); !errors.Is(err, ErrInexactDecimal) || !bytes.Equal(out, []byte{7}) {
		t.Fatalf("AppendRecord(0.12345 at scale 4) = %x, %v; want dst unchanged and ErrInexactDecimal", out, err)
	}
}
