package codec_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

type salary struct {
	Person string   `avro:"person"`
	Amount *big.Rat `avro:"amount"`
}

func Example() {
	ctx := context.Background()
	fake := srfake.New() // any Confluent-compatible registry
	defer fake.Close()

	schema := avro.MustParse(`{"type":"record","name":"Salary","namespace":"example","fields":[
		{"name":"person","type":"string"},
		{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}}]}`)
	reg, err := codec.NewRegistry(fake.URL())
	if err != nil {
		panic(err)
	}
	id, err := reg.Register(ctx, codec.Subject("example.salaries"), schema)
	if err != nil {
		panic(err)
	}
	c := codec.New(reg)

	value, err := c.Encode(id, schema, &salary{Person: "p-1", Amount: big.NewRat(450050, 100)})
	if err != nil {
		panic(err)
	}
	var out salary
	if err := c.Decode(ctx, value, schema, &out); err != nil {
		panic(err)
	}
	fmt.Println(out.Person, out.Amount.FloatString(2), value[0] == codec.MagicByte)

	// A third decimal place does not fit scale 2: an error, never a rounded salary.
	_, err = c.Encode(id, schema, &salary{Person: "p-1", Amount: big.NewRat(4500505, 1000)})
	fmt.Println(errors.Is(err, codec.ErrInexactDecimal))
	// Output:
	// p-1 4500.50 true
	// true
}
