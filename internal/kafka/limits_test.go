package kafka

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMessageLimits(t *testing.T) {
	cluster := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "300000"}))
	c, _, logs := newClient(t, cluster)
	err := c.EnsureTopics(t.Context(), []TopicSpec{
		{Name: "small", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"max.message.bytes": "20000"}},
		{Name: "plain", Partitions: 1, ReplicationFactor: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.MessageLimits(t.Context(), "small", "absent")
	if err != nil {
		t.Fatal(err)
	}
	// The topic's own setting; the brokers' for a topic that cannot be described.
	if fmt.Sprint(got) != "map[absent:300000 small:20000]" {
		t.Errorf("limits = %v, want small's max.message.bytes and the brokers' message.max.bytes for absent", got)
	}
	if !strings.Contains(logs.String(), "topic=absent") {
		t.Errorf("no warning about the topic that could not be described: %s", logs)
	}
	if e := (&TooLargeError{}); !errors.As(c.CheckSize(Message{Topic: "small", Value: make([]byte, 20000)}), &e) || e.MaxMessageBytes != 20000 {
		t.Errorf("CheckSize of 20000 bytes against a limit of 20000: %v", e)
	}

	t.Run("not allowed to describe", func(t *testing.T) {
		cluster := newCluster(t, kfake.SeedTopics(1, "t"))
		c, _, logs := newClient(t, cluster)
		cluster.ControlKey(int16(kmsg.DescribeConfigs), func(req kmsg.Request) (kmsg.Response, error, bool) {
			cluster.KeepControl()
			r := req.(*kmsg.DescribeConfigsRequest)
			resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
			for _, rr := range r.Resources {
				res := kmsg.NewDescribeConfigsResponseResource()
				res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
				res.ErrorCode = kerr.TopicAuthorizationFailed.Code
				if rr.ResourceType == kmsg.ConfigResourceTypeBroker {
					res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				}
				resp.Resources = append(resp.Resources, res)
			}
			return resp, nil, true
		})
		got, err := c.MessageLimits(t.Context(), "t")
		if err != nil || got["t"] != DefaultMaxMessageBytes {
			t.Errorf("MessageLimits = %v, %v; want Kafka's default", got, err)
		}
		if !strings.Contains(logs.String(), "assuming Kafka's default") {
			t.Errorf("no warning that the default is assumed: %s", logs)
		}
	})
}

// The largest message CheckSize lets through reaches a topic that takes little, with every
// codec (its value cannot be compressed), and so do many small messages that together exceed
// the limit; one byte more is refused before anything is sent.
func TestCheckSizeFitsTheBroker(t *testing.T) {
	const limit = 20000
	for _, codec := range []string{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd} {
		t.Run(codec, func(t *testing.T) {
			cluster := newCluster(t)
			c, _, _ := newClient(t, cluster, func(cfg *Config) { cfg.Compression = codec; cfg.MaxAttempts = 1 })
			err := c.EnsureTopics(t.Context(), []TopicSpec{{Name: "t", Partitions: 1, ReplicationFactor: 1,
				Configs: map[string]string{"max.message.bytes": fmt.Sprint(limit)}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.MessageLimits(t.Context(), "t"); err != nil {
				t.Fatal(err)
			}
			msg := func(n int) Message {
				v := make([]byte, n)
				_, _ = rand.Read(v)
				return Message{Topic: "t", Key: []byte("acme:1"), Value: v,
					Headers: []Header{{Key: "event_id", Value: []byte("0123456789abcdef0123456789abcdef")}, {Key: "op", Value: []byte("u")}}}
			}
			// The largest value that passes.
			lo, hi := 0, limit
			for lo < hi {
				mid := (lo + hi + 1) / 2
				if c.CheckSize(msg(mid)) == nil {
					lo = mid
				} else {
					hi = mid - 1
				}
			}
			t.Logf("max.message.bytes %d, %s: the largest value that passes has %d bytes", limit, codec, lo)
			if lo < limit*4/5 {
				t.Errorf("the largest value that passes is %d bytes: too cautious for a limit of %d", lo, limit)
			}
			var tl *TooLargeError
			if err := c.CheckSize(msg(lo + 1)); !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || tl.Size <= tl.Limit ||
				tl.MaxMessageBytes != limit || tl.Topic != "t" || Retryable(err) || reason(err) != "message_too_large" {
				t.Fatalf("CheckSize one byte over = %v (%+v)", err, tl)
			}
			if err := c.Publish(t.Context(), []Message{msg(lo)}); err != nil {
				t.Fatalf("publishing the largest message that passes (%d bytes of value): %v", lo, err)
			}
			small := make([]Message, 200) // 100 KB, five times the limit
			for i := range small {
				small[i] = msg(500)
			}
			if err := c.Publish(t.Context(), small); err != nil {
				t.Fatalf("publishing 200 messages of 500 bytes: %v", err)
			}
			if n := countRecords(t, c, "t"); n != 1+len(small) {
				t.Errorf("topic holds %d records, want %d", n, 1+len(small))
			}
		})
	}
}
