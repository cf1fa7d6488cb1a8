#!/usr/bin/python3
"""AMQP 0-9-1 client run by make-captures-amqp.sh against a local
rabbitmq-server (127.0.0.1:5672, guest/guest): one connection exercising
the methods tests/amqp_corpus.rs checks. Uses Debian's python3-pika."""
import pika

params = pika.ConnectionParameters(
    host="127.0.0.1", port=5672, heartbeat=0,
    credentials=pika.PlainCredentials("guest", "guest"))
conn = pika.BlockingConnection(params)
ch = conn.channel()

ch.exchange_declare("spanlens.logs", exchange_type="fanout", durable=False)
ch.queue_declare("spanlens.work", arguments={"x-max-length": 100})
ch.queue_bind("spanlens.work", "spanlens.logs", routing_key="")
ch.basic_qos(prefetch_count=5)

# Publishes: text, JSON with headers and persistence, binary.
ch.basic_publish("", "spanlens.work", b"hello world",
                 pika.BasicProperties(content_type="text/plain"))
ch.basic_publish("spanlens.logs", "", b'{"level": "info"}',
                 pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                      headers={"source": "spanlens", "n": 7,
                                               "tags": ["a", "b"]},
                                      message_id="m-1", correlation_id="c-1",
                                      app_id="spanlens-test"))
ch.basic_publish("", "spanlens.work", bytes(range(16)),
                 pika.BasicProperties(content_type="application/octet-stream"))

# basic.get: get-ok (ack, reject requeue, nack) then get-empty.
m, _, _ = ch.basic_get("spanlens.work")
ch.basic_ack(m.delivery_tag)
m, _, _ = ch.basic_get("spanlens.work")
ch.basic_reject(m.delivery_tag, requeue=True)
m, _, _ = ch.basic_get("spanlens.work")
ch.basic_nack(m.delivery_tag, requeue=False)
m, _, _ = ch.basic_get("spanlens.work")
ch.basic_ack(m.delivery_tag)
assert ch.basic_get("spanlens.work")[0] is None

# Consume: deliveries, acks, cancel.
for i in range(3):
    ch.basic_publish("", "spanlens.work", b"job %d" % i,
                     pika.BasicProperties(content_type="text/plain"))
seen = 0
for method, props, body in ch.consume("spanlens.work", inactivity_timeout=2):
    if method is None:
        break
    ch.basic_ack(method.delivery_tag)
    seen += 1
    if seen == 3:
        break
ch.cancel()

# Transactions.
ch.tx_select()
ch.basic_publish("", "spanlens.work", b"in tx", pika.BasicProperties(content_type="text/plain"))
ch.tx_commit()
ch.basic_publish("", "spanlens.work", b"rolled back", pika.BasicProperties(content_type="text/plain"))
ch.tx_rollback()

ch.queue_unbind("spanlens.work", "spanlens.logs", routing_key="")
ch.queue_purge("spanlens.work")
ch.queue_delete("spanlens.work")
ch.exchange_delete("spanlens.logs")
ch.close()

# Publisher confirms and a mandatory publish nobody can route (basic.return).
ch = conn.channel()
ch.confirm_delivery()
ch.queue_declare("spanlens.confirm", auto_delete=True)
ch.basic_publish("", "spanlens.confirm", b"confirmed",
                 pika.BasicProperties(content_type="text/plain"))
try:
    ch.basic_publish("", "no.such.queue", b"unroutable",
                     pika.BasicProperties(content_type="text/plain"), mandatory=True)
except pika.exceptions.UnroutableError:
    pass
ch.close()

# Channel errors: a passive declare of a missing queue, a bind to a missing
# exchange (both: the server closes the channel with 404).
ch = conn.channel()
try:
    ch.queue_declare("spanlens.missing", passive=True)
except pika.exceptions.ChannelClosedByBroker:
    pass
ch = conn.channel()
ch.queue_declare("spanlens.orphan", auto_delete=True)
try:
    ch.queue_bind("spanlens.orphan", "spanlens.no-exchange")
except pika.exceptions.ChannelClosedByBroker:
    pass
conn.close()
