#!/usr/bin/env python3
"""Independent consumer for personio-cdc topics, written the way a payroll team would write one.

It uses librdkafka (confluent-kafka) and the Confluent Avro deserializer against the schema
registry, so it shares no code with the Go service. Two modes:

Read a topic from offset 0 to the high-water mark of every partition and print one JSON line per
record, ordered by partition then offset:

    verify_consumer.py --brokers 127.0.0.1:9092 --registry http://127.0.0.1:8081/apis/ccompat/v7 \
        --topic personio.persons

    {"topic": ..., "partition": 0, "offset": 0, "key": "acme:42",
     "headers": {"op": "c", ...}, "value": {...} or null for a tombstone}

  Avro values are rendered exactly: decimals as strings with their full scale ("1234.50"), dates
  as "YYYY-MM-DD", timestamps as RFC 3339 in UTC with milliseconds ("2024-05-01T08:00:00.000Z"),
  bytes and fixed as base64, enums and union branches as their plain value.

Ask librdkafka's murmur2_random partitioner (the Java client's murmur2) where keys land:

    verify_consumer.py --brokers ... --partitions 6 --partition-for KEY [KEY ...]
    verify_consumer.py --brokers ... --partitions 6 --keys-file keys.txt   (one key a line, - = stdin)

    {"key": "acme:42", "partition": 3}

  The keys are produced to a scratch topic with that many partitions, which is deleted afterwards;
  each delivery report tells the partition the partitioner chose.

Brokers and registry as production runs them (both modes): TLS with a CA file, SASL, and HTTP
basic auth at the registry. Passwords come from files, never from the command line:

    verify_consumer.py --brokers 127.0.0.1:9093 --ssl-ca ca.pem --sasl-mechanism SCRAM-SHA-512 \
        --sasl-username cdc --sasl-password-file kafka-password \
        --registry https://sr:8081 --registry-username cdc --registry-password-file sr-password --topic ...

Exit status: 0 on success, 1 on any error (message on stderr).
"""

import argparse
import base64
import datetime
import decimal
import json
import signal
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def to_json(v):
    """Turns a decoded Avro value into JSON-safe data without losing precision."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        v = v.astimezone(datetime.timezone.utc)
        return v.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        # fastavro may return a union as (branch name, value) when asked; plain values otherwise.
        return [to_json(x) for x in v]
    raise TypeError(f"cannot render {type(v).__name__} as JSON")


def read_secret(path):
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def kafka_config(args, conf):
    """Adds the connection's security settings (TLS, SASL) to a librdkafka configuration."""
    conf = dict(conf, **{"bootstrap.servers": args.brokers})
    tls = bool(args.ssl_ca)
    if args.sasl_mechanism:
        conf["security.protocol"] = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        conf["sasl.mechanism"] = args.sasl_mechanism
        conf["sasl.username"] = args.sasl_username or ""
        conf["sasl.password"] = read_secret(args.sasl_password_file) if args.sasl_password_file else ""
    elif tls:
        conf["security.protocol"] = "SSL"
    if tls:
        conf["ssl.ca.location"] = args.ssl_ca
        conf["ssl.endpoint.identification.algorithm"] = "https"
    return conf


def registry_config(args):
    conf = {"url": args.registry}
    if args.registry_username:
        pw = read_secret(args.registry_password_file) if args.registry_password_file else ""
        conf["basic.auth.user.info"] = f"{args.registry_username}:{pw}"
    return conf


def utf8(b):
    if b is None:
        return None
    return b.decode("utf-8") if isinstance(b, (bytes, bytearray)) else str(b)


def read_topic(args):
    consumer = Consumer(
        kafka_config(args, {
            "group.id": f"personio-cdc-verifier-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "isolation.level": "read_committed",
            "log_level": 3,
        })
    )
    try:
        md = consumer.list_topics(args.topic, timeout=args.timeout)
        tmd = md.topics.get(args.topic)
        if tmd is None or tmd.error is not None:
            raise RuntimeError(f"topic {args.topic!r} not found: {tmd.error if tmd else 'no metadata'}")

        # Snapshot the end of every partition first: we read up to here and no further.
        ends = {}
        assign = []
        for p in sorted(tmd.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=args.timeout)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(args.topic, p, low))

        deserializer = None
        if args.registry:
            deserializer = AvroDeserializer(SchemaRegistryClient(registry_config(args)))
        ctx = SerializationContext(args.topic, MessageField.VALUE)

        records = []
        if assign:
            consumer.assign(assign)
        remaining = set(ends)
        deadline = time.monotonic() + args.timeout
        while remaining:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out after {args.timeout}s reading {args.topic}; partitions not at their end: {sorted(remaining)}"
                )
            msg = consumer.poll(0.5)
            if msg is None:
                # The last offsets may hold no record a consumer sees (transaction markers,
                # compacted away): the position tells when a partition is done.
                for tp in consumer.position([TopicPartition(args.topic, p) for p in remaining]):
                    if tp.offset >= ends[tp.partition]:
                        remaining.discard(tp.partition)
                continue
            if msg.error():
                raise KafkaException(msg.error())
            p, off = msg.partition(), msg.offset()
            if p not in remaining:
                continue
            if off >= ends[p]:
                remaining.discard(p)
                continue
            raw = msg.value()
            if raw is None:
                value = None
            elif deserializer is None:
                value = base64.b64encode(raw).decode("ascii")
            else:
                value = deserializer(raw, ctx)
            records.append(
                {
                    "topic": msg.topic(),
                    "partition": p,
                    "offset": off,
                    "key": utf8(msg.key()),
                    "headers": {k: utf8(v) for k, v in (msg.headers() or [])},
                    "value": to_json(value),
                }
            )
            if off >= ends[p] - 1:
                remaining.discard(p)
    finally:
        consumer.close()

    records.sort(key=lambda r: (r["partition"], r["offset"]))
    out = sys.stdout
    for r in records:
        out.write(json.dumps(r, sort_keys=True, ensure_ascii=False))
        out.write("\n")
    out.flush()


def partition_for(args, keys):
    if args.partitions is None or args.partitions < 1:
        raise RuntimeError("--partitions N (N >= 1) is required with --partition-for/--keys-file")
    admin = AdminClient(kafka_config(args, {"log_level": 3}))
    scratch = f"personio-cdc-partition-probe-{uuid.uuid4().hex[:12]}"
    fs = admin.create_topics([NewTopic(scratch, num_partitions=args.partitions, replication_factor=1)])
    fs[scratch].result(timeout=args.timeout)
    try:
        producer = Producer(
            kafka_config(args, {
                "partitioner": "murmur2_random",
                "linger.ms": 5,
                "log_level": 3,
            })
        )
        chosen = {}
        errors = []

        def report(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                chosen[utf8(msg.key())] = msg.partition()

        deadline = time.monotonic() + args.timeout
        for k in keys:
            while True:
                try:
                    producer.produce(scratch, key=k.encode("utf-8"), value=b"", on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
            # A fresh topic's metadata may take a moment: librdkafka queues until it knows it.
        while len(producer) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {args.timeout}s producing to {scratch}")
            producer.flush(1)
        if errors:
            raise RuntimeError(f"producing to {scratch}: {errors[0]}")
    finally:
        admin.delete_topics([scratch])[scratch].result(timeout=args.timeout)

    out = sys.stdout
    for k in keys:
        out.write(json.dumps({"key": k, "partition": chosen[k]}, ensure_ascii=False))
        out.write("\n")
    out.flush()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", required=True, help="bootstrap servers, host:port[,host:port]")
    ap.add_argument("--registry", help="schema registry URL (Confluent API); without it values print as base64")
    ap.add_argument("--topic", help="topic to read from offset 0 to its end")
    ap.add_argument("--partitions", type=int, help="partition count for --partition-for/--keys-file")
    ap.add_argument("--partition-for", nargs="+", metavar="KEY", help="print the murmur2_random partition of each key")
    ap.add_argument("--keys-file", help="like --partition-for, keys one a line from a file (- = stdin)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before giving up (default 60)")
    ap.add_argument("--ssl-ca", metavar="PEM", help="connect with TLS, trusting the CAs in this file")
    ap.add_argument("--sasl-mechanism", help="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    ap.add_argument("--sasl-username", help="SASL user")
    ap.add_argument("--sasl-password-file", metavar="FILE", help="file holding the SASL password")
    ap.add_argument("--registry-username", help="schema registry basic-auth user")
    ap.add_argument("--registry-password-file", metavar="FILE", help="file holding the registry password")
    args = ap.parse_args(argv)
    if args.sasl_mechanism and not (args.sasl_username and args.sasl_password_file):
        ap.error("--sasl-mechanism needs --sasl-username and --sasl-password-file")

    keys = list(args.partition_for or [])
    if args.keys_file:
        f = sys.stdin if args.keys_file == "-" else open(args.keys_file, encoding="utf-8")
        with f:
            keys.extend(line.rstrip("\n") for line in f if line.rstrip("\n"))
    if not keys and not args.topic:
        ap.error("one of --topic, --partition-for, --keys-file is required")
    if keys and args.topic:
        ap.error("--topic and --partition-for/--keys-file are separate modes")

    try:
        if keys:
            partition_for(args, keys)
        else:
            read_topic(args)
    except Exception as e:  # one line on stderr, non-zero exit: the caller shows it
        print(f"verify_consumer: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends us quietly
    sys.exit(main(sys.argv[1:]))
