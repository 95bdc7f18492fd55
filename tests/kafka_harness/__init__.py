"""How tests get a real Kafka: an existing cluster, a Docker engine, or scripts/kafka-local."""

from tests.kafka_harness.broker import Broker, start_broker

__all__ = ["Broker", "start_broker"]
