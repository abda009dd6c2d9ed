package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/hamba/avro/v2"
)

// hambaDecimal is the Avro library's encoding of r as a bare bytes decimal.
func hambaDecimal(t testing.TB, r *big.Rat, precision, scale int) []byte {
	t.Helper()
	s := avro.MustParse(fmt.Sprintf(`{"type":"bytes","logicalType":"decimal","precision":%d,"scale":%d}`, precision, scale))
	b, err := avro.Marshal(s, r)
	if err != nil {
		t.Fatalf("hamba encode %s: %v", r.RatString(), err)
	}
	return b
}

func TestAppendDecimalMatchesHamba(t *testing.T) {
	big19, _ := new(big.Rat).SetString("9999999999999999999") // above int64, within precision 19 at scale 0
	neg19, _ := new(big.Rat).SetString("-9999999999999999999")
	cases := []struct {
		r                string
		precision, scale int
	}{
		{"0", 19, 4}, {"1", 19, 4}, {"-1", 19, 4}, {"0.0001", 19, 4}, {"-0.0001", 19, 4},
		{"12.8", 19, 4}, {"-12.8", 19, 4}, {"0.0127", 9, 4}, {"0.0128", 9, 4}, {"-0.0128", 9, 4},
		{"-0.0129", 9, 4}, {"3.2767", 9, 4}, {"3.2768", 9, 4}, {"-3.2768", 9, 4}, {"-3.2769", 9, 4},
		{"40", 9, 4}, {"38.5", 9, 4}, {"99999.9999", 9, 4}, {"-99999.9999", 9, 4},
		{"123456789012345.6789", 19, 4}, {"-123456789012345.6789", 19, 4},
		{"922337203685477.5807", 19, 4}, {"-922337203685477.5808", 19, 4},
		{"999999999999999.9999", 19, 4}, {"-999999999999999.9999", 19, 4},
		{"255", 19, 0}, {"-255", 19, 0}, {"-256", 19, 0}, {"-257", 19, 0}, {"128", 19, 0}, {"-128", 19, 0},
		{big19.RatString(), 19, 0}, {neg19.RatString(), 19, 0},
		{"18446744073709551615", 20, 0}, {"-18446744073709551615", 20, 0}, {"1e30", 40, 2}, {"-1e30", 40, 2},
	}
	for _, c := range cases {
		r, ok := new(big.Rat).SetString(c.r)
		if !ok {
			t.Fatalf("bad case %q", c.r)
		}
		got, err := AppendDecimal([]byte{0xAA}, r, c.precision, c.scale)
		if err != nil {
			t.Errorf("%s (%d,%d): %v", c.r, c.precision, c.scale, err)
			continue
		}
		if want := hambaDecimal(t, r, c.precision, c.scale); !bytes.Equal(got[1:], want) || got[0] != 0xAA {
			t.Errorf("%s (%d,%d): got % x, hamba % x", c.r, c.precision, c.scale, got[1:], want)
		}
	}
}

func TestAppendDecimalRefusesInexact(t *testing.T) {
	cases := []struct {
		r                string
		precision, scale int
		reason           string
	}{
		{"0.12345", 19, 4, reasonScale},
		{"1/3", 19, 4, reasonScale},
		{"100000", 9, 4, reasonPrecision},
		{"-100000", 9, 4, reasonPrecision},
		{"10000000000000000000", 19, 0, reasonPrecision},
		{"1e40", 40, 2, reasonPrecision},
		{"1/7000000000000000000000", 30, 4, reasonScale},
	}
	for _, c := range cases {
		r, _ := new(big.Rat).SetString(c.r)
		got, err := AppendDecimal([]byte{1}, r, c.precision, c.scale)
		var de *DecimalError
		if !errors.As(err, &de) || de.Reason != c.reason || !errors.Is(err, ErrInexactDecimal) {
			t.Errorf("%s (%d,%d): err %v, want reason %q", c.r, c.precision, c.scale, err, c.reason)
		}
		if len(got) != 1 {
			t.Errorf("%s: appended %d bytes on error", c.r, len(got)-1)
		}
	}
	if _, err := AppendDecimal(nil, nil, 19, 4); !errors.Is(err, ErrInexactDecimal) {
		t.Errorf("nil: %v", err)
	}
}

// FuzzAppendDecimal checks AppendDecimal against the Avro library for every exact value, and
// that it refuses exactly the values the guard refuses.
func FuzzAppendDecimal(f *testing.F) {
	f.Add(int64(128), uint64(1), uint8(4), uint8(19))
	f.Add(int64(-32768), uint64(10000), uint8(4), uint8(9))
	f.Add(int64(math.MinInt64), uint64(1), uint8(0), uint8(19))
	f.Add(int64(7), uint64(3), uint8(4), uint8(19))
	f.Fuzz(func(t *testing.T, num int64, den uint64, scale, precision uint8) {
		if den == 0 {
			den = 1
		}
		s, p := int(scale%19), int(precision%19)+1
		if s > p {
			s = p
		}
		r := new(big.Rat).SetFrac(big.NewInt(num), new(big.Int).SetUint64(den))
		got, err := AppendDecimal(nil, r, p, s)
		reason := checkRat(r, s, p)
		if (err != nil) != (reason != "") {
			t.Fatalf("%s (%d,%d): err %v, guard %q", r.RatString(), p, s, err, reason)
		}
		if err != nil {
			return
		}
		if want := hambaDecimal(t, r, p, s); !bytes.Equal(got, want) {
			t.Fatalf("%s (%d,%d): got % x, hamba % x", r.RatString(), p, s, got, want)
		}
	})
}
