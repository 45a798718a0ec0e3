"""A non-Node producer of Risk Hub attacks, following docs/agents.md (Python, confluent-kafka).

    pip install "confluent-kafka[avro,schemaregistry]"
    python produce_attacks.py --brokers 127.0.0.1:9092 \
        --registry http://127.0.0.1:8081/apis/ccompat/v7 --topic attacks \
        --application shop --user u-1001 --user u-1002 --type sql_injection --severity HIGH

Prints one JSON line per delivered record: {"key", "partition", "offset", "event_id"}.
The same shape applies to Ruby (rdkafka) and PHP (php-rdkafka): librdkafka underneath, so the same
`partitioner: murmur2_random` setting.
"""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--topic", default="attacks")
    p.add_argument("--application", required=True)
    p.add_argument("--environment", default="production")
    p.add_argument("--user", action="append", required=True)
    p.add_argument("--type", default="sql_injection")
    p.add_argument("--severity", default="HIGH")
    # librdkafka's default (consistent_random) disagrees with the Java/kafkajs murmur2 partitioner:
    # Risk Hub needs murmur2_random. The option exists here only to demonstrate the difference.
    p.add_argument("--partitioner", default="murmur2_random")
    args = p.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    subject = f"{args.topic}-value"
    latest = registry.get_latest_version(subject)
    serializer = AvroSerializer(
        registry,
        latest.schema.schema_str,
        # never register from an agent; write with the latest registered schema
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    producer = Producer(
        {
            "bootstrap.servers": args.brokers,
            "partitioner": args.partitioner,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 50,
            "compression.type": "gzip",
        }
    )

    delivered = []

    def on_delivery(err, msg):
        if err is not None:
            print(json.dumps({"error": str(err)}), file=sys.stderr)
            return
        delivered.append(msg)

    for user in args.user:
        event_id = str(uuid.uuid4())  # reuse it if you ever re-send this event yourself
        record = {
            "event_id": event_id,
            "occurred_at": int(time.time() * 1000),
            "application_id": args.application,
            "environment": args.environment,
            "user": {"key": user, "identifiers": {"source": "python-example"}},
            "attack_type": args.type,
            "severity": args.severity,
            "points": None,
            "blocked": False,
            "request": {"ip": "203.0.113.50", "method": "GET", "path": "/search", "user_agent": None},
            "agent": {"name": "risk-hub-python-example", "version": "0.1.0", "language": "python"},
        }
        key = f"{args.application}/{args.environment}/{user}"
        value = serializer(record, SerializationContext(args.topic, MessageField.VALUE))
        producer.produce(args.topic, key=key.encode("utf-8"), value=value, on_delivery=on_delivery)
        producer.poll(0)

    remaining = producer.flush(30)
    for msg in delivered:
        value = msg.value()
        print(
            json.dumps(
                {
                    "key": msg.key().decode("utf-8"),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "schema_id": int.from_bytes(value[1:5], "big"),
                }
            )
        )
    return 0 if remaining == 0 and len(delivered) == len(args.user) else 1


if __name__ == "__main__":
    sys.exit(main())
