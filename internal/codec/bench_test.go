package codec

import "testing"

// BenchmarkEncode measures the producer hot path on a payment with four
// decimals, with and without the exact-decimal check.
func BenchmarkEncode(b *testing.B) {
	schema := mustSchema(b, "payment_v1.avsc")
	p := samplePayment(b)
	for _, bc := range []struct {
		name  string
		check bool
	}{{"checked", true}, {"unchecked", false}} {
		b.Run(bc.name, func(b *testing.B) {
			c := New(nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.encode(nil, 7, schema, p, bc.check); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("append-reused-buffer", func(b *testing.B) {
		c := New(nil)
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = c.AppendEncode(buf[:0], 7, schema, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncodePlain is the encode path for a record without decimals.
func BenchmarkEncodePlain(b *testing.B) {
	schema := mustSchema(b, "plain.avsc")
	v := &struct {
		ID    string `avro:"id"`
		Count int64  `avro:"count"`
	}{ID: "acme:12345", Count: 42}
	c := New(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(7, schema, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckDecimals(b *testing.B) {
	schema := mustSchema(b, "payment_v1.avsc")
	p := samplePayment(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckDecimals(schema, p); err != nil {
			b.Fatal(err)
		}
	}
}
