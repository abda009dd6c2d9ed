package kafka

import (
	"fmt"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

// javaMurmur2 is the 32-bit MurmurHash2 variant used by the Java client's
// default partitioner (seed 0x9747b28c, little-endian 4-byte blocks, tail
// bytes folded in from the highest), written from the published algorithm.
func javaMurmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// javaPartition is the Java client's choice for a keyed record:
// Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions.
func javaPartition(key []byte, partitions int) int {
	return int(javaMurmur2(key)&0x7fffffff) % partitions
}

// Published expected hashes of the Java implementation (Kafka's
// UtilsTest.testMurmur2 and Akka's Murmur2Spec, which checks against it).
func TestJavaMurmur2Vectors(t *testing.T) {
	tests := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		{"1", -1993445489},
		{"12", 126087238},
		{"123", -267702483},
		{"1234", -1614185708},
		{"12345", -1188365604},
	}
	for _, tt := range tests {
		if got := javaMurmur2([]byte(tt.key)); got != tt.want {
			t.Errorf("murmur2(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

// The writer's balancer must place every key where a Java producer would.
func TestMurmur2BalancerMatchesJava(t *testing.T) {
	keys := [][]byte{[]byte(""), []byte("a"), []byte("acme:1"), []byte("acme:12345"), []byte("ümlaut:ß")}
	for i := range 500 {
		keys = append(keys, fmt.Appendf(nil, "tenant-%d:%d", i%7, i*7919))
	}
	var b kafkago.Murmur2Balancer
	for _, n := range []int{1, 2, 3, 6, 7, 12, 50, 64} {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for _, k := range keys {
			if got, want := b.Balance(kafkago.Message{Key: k}, parts...), javaPartition(k, n); got != want {
				t.Fatalf("key %q, %d partitions: balancer %d, Java %d", k, n, got, want)
			}
		}
	}
}

// Partition, which the consumer group hashes tenant names with, places a key where a Java
// producer would.
func TestPartitionMatchesJava(t *testing.T) {
	keys := []string{"", "a", "acme", "globex-gmbh", "ümlaut", "tenant-042"}
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("company-%d", i))
	}
	for _, n := range []int{1, 2, 7, 64, 100} {
		for _, k := range keys {
			if got, want := Partition([]byte(k), n), javaPartition([]byte(k), n); got != want {
				t.Fatalf("Partition(%q, %d) = %d, Java %d", k, n, got, want)
			}
		}
	}
	if got, want := Partition(nil, 64), javaPartition(nil, 64); got != want {
		t.Fatalf("Partition(nil, 64) = %d, want the empty key's %d", got, want)
	}
}
