#!/usr/bin/env python3
"""Writes the seed corpora of the push decoder fuzz targets.

The protobuf seeds are encoded by hand from the published field numbers of
Loki's push.proto and of opentelemetry-proto's logs (the tables at the top of
sample_host/src/push_decoders.hpp and otlp.hpp), so that no generated code or
protobuf package is needed. Each corpus has valid messages and a few invalid
ones (truncated, wrong wire types, values out of range), as a sender would get
them wrong. Rerun after changing a seed: tests/fuzz/make_seeds.py
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(number, wire_type):
    return varint((number << 3) | wire_type)


def f_varint(number, value):
    return tag(number, 0) + varint(value & 0xFFFFFFFFFFFFFFFF)


def f_fixed64(number, value):
    return tag(number, 1) + struct.pack("<Q", value)


def f_double(number, value):
    return tag(number, 1) + struct.pack("<d", value)


def f_fixed32(number, value):
    return tag(number, 5) + struct.pack("<I", value)


def f_bytes(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(number, 2) + varint(len(payload)) + payload


def snappy_literal_block(data):
    """A snappy block of literals only: valid, if not compressed."""
    out = bytearray(varint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
        pos += len(chunk)
    return bytes(out)


def write(corpus, name, data):
    folder = os.path.join(HERE, "corpus", corpus)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as out:
        out.write(data)


# Loki push.proto -------------------------------------------------------------------------

def timestamp(seconds, nanos):
    return f_varint(1, seconds) + f_varint(2, nanos)


def entry(seconds, nanos, line, metadata=()):
    out = f_bytes(1, timestamp(seconds, nanos)) + f_bytes(2, line)
    for name, value in metadata:
        out += f_bytes(3, f_bytes(1, name) + f_bytes(2, value))
    return out


def stream(labels, entries, hash_value=None):
    out = f_bytes(1, labels)
    for item in entries:
        out += f_bytes(2, item)
    if hash_value is not None:
        out += f_varint(3, hash_value)
    return out


def push_request(streams):
    return b"".join(f_bytes(1, item) for item in streams)


def loki_seeds():
    corpus = "push_protobuf_fuzz"
    one = push_request([stream('{service_name="api", env="prod"}', [
        entry(1733322791, 123456789, "GET /health 200"),
        entry(1733322792, 0, "level=error msg=\"db down\"",
              [("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("pod", "api-0")]),
    ])])
    write(corpus, "one_stream.pb", one)
    write(corpus, "two_streams.pb", push_request([
        stream('{app="web"}', [entry(1, 0, "first")], hash_value=12345),
        stream('{app="db", zone=`eu-west-1`}', [entry(1733322791, 999999999, "")]),
    ]))
    write(corpus, "escaped_labels.pb", push_request([stream(
        '{a="q\\"uote\\\\ \\n\\t\\x41\\u00e9\\U0001F600", b=`raw \\ value`, _c=""}',
        [entry(1733322791, 5, "line with \u00e9 and \t tab")])]))
    write(corpus, "empty_labels.pb", push_request([stream("{}", [entry(10, 0, "x")])]))
    write(corpus, "no_streams.pb", b"")
    write(corpus, "unknown_fields.pb",
          f_varint(15, 7) + f_fixed64(16, 1) + f_fixed32(17, 2) + f_bytes(18, "skip") +
          push_request([stream('{a="b"}', [entry(3, 4, "x") + f_varint(9, 1)]) +
                        f_bytes(4, "unknown")]))
    # Invalid messages.
    write(corpus, "truncated.pb", one[:len(one) - 7])
    write(corpus, "entries_as_varint.pb", push_request([f_bytes(1, '{a="b"}') + f_varint(2, 1)]))
    write(corpus, "no_timestamp.pb", push_request([stream('{a="b"}', [f_bytes(2, "line")])]))
    write(corpus, "no_labels.pb", push_request([f_bytes(2, entry(1, 0, "x"))]))
    write(corpus, "matcher_labels.pb", push_request([stream('{a=~"b"}', [entry(1, 0, "x")])]))
    write(corpus, "duplicate_labels.pb",
          push_request([stream('{a="b", a="c"}', [entry(1, 0, "x")])]))
    write(corpus, "nanos_out_of_range.pb",
          push_request([stream('{a="b"}', [entry(1, 1000000000, "x")])]))
    write(corpus, "negative_seconds.pb", push_request([stream('{a="b"}', [entry(-1, 0, "x")])]))
    write(corpus, "group_field.pb", tag(1, 3) + tag(1, 4))
    write(corpus, "overlong_varint.pb", tag(1, 0) + b"\xff" * 10 + b"\x01")
    # Snappy blocks, for the snappy reading of each input.
    write(corpus, "one_stream.snappy", snappy_literal_block(one))
    write(corpus, "declares_a_gigabyte.snappy", varint(1 << 30) + b"\x00a" + b"\x01\x00" * 8)
    write(corpus, "bad_snappy_copy.snappy", varint(100) + b"\x00a" + b"\xfe\xff\xff")


# OTLP logs ---------------------------------------------------------------------------------

def any_string(text):
    return f_bytes(1, text)


def key_value(key, value):
    return f_bytes(1, key) + f_bytes(2, value)


def otlp_resource_logs(resource_attributes, scopes):
    resource = b"".join(f_bytes(1, item) for item in resource_attributes)
    return f_bytes(1, resource) + b"".join(f_bytes(2, scope) for scope in scopes)


def otlp_scope(name, version, attributes, records):
    scope = f_bytes(1, name) + f_bytes(2, version)
    scope += b"".join(f_bytes(3, item) for item in attributes)
    scope += f_varint(4, 1)
    return f_bytes(1, scope) + b"".join(f_bytes(2, record) for record in records)


def otlp_request(resources):
    return b"".join(f_bytes(1, item) for item in resources)


def otlp_record(time=None, observed=None, severity=None, text=None, body=None, attributes=(),
                dropped=None, flags=None, trace=None, span=None):
    """A LogRecord of the fields given, in field-number order."""
    fields = [(1, f_fixed64, time), (2, f_varint, severity), (3, f_bytes, text),
              (5, f_bytes, body), (7, f_varint, dropped), (8, f_fixed32, flags),
              (9, f_bytes, trace), (10, f_bytes, span), (11, f_fixed64, observed)]
    out = b""
    for number, encode, value in fields:
        if number == 7:
            out += b"".join(f_bytes(6, item) for item in attributes)
        if value is not None:
            out += encode(number, value)
    return out


def otlp_one_record(record):
    """A request of one resource and scope, both without attributes, holding `record`."""
    return otlp_request([otlp_resource_logs([], [otlp_scope("", "", [], [record])])])


def otlp_protobuf_seeds():
    corpus = "otlp_protobuf_fuzz"
    every_kind = [
        key_value("http.status_code", f_varint(3, 500)),
        key_value("retry", f_varint(2, 1)),
        key_value("duration", f_double(4, 0.25)),
        key_value("raw", f_bytes(7, b"\x00\x01\xfe")),
        key_value("tags", f_bytes(5, f_bytes(1, any_string("a")) + f_bytes(1, f_varint(3, 2)))),
        key_value("http.request.header",
                  f_bytes(6, f_bytes(1, key_value("accept", any_string("*/*"))))),
    ]
    full = otlp_request([otlp_resource_logs(
        [key_value("service.name", any_string("checkout")),
         key_value("k8s.pod.name", any_string("checkout-7d9f")),
         key_value("host.name", any_string("node-1"))],
        [otlp_scope("io.opentelemetry.example", "1.2.3",
                    [key_value("scope.attr", any_string("s"))],
                    [otlp_record(time=1733322791123456789, observed=1733322791200000000,
                                 severity=17, text="ERROR", body=any_string("payment failed"),
                                 attributes=every_kind, dropped=2, flags=1,
                                 trace=bytes(range(16)), span=bytes(range(8))),
                     otlp_record(observed=1733322792000000000, severity=9,
                                 body=f_bytes(6, f_bytes(1, key_value("msg", any_string("ok"))))),
                     otlp_record(body=f_bytes(5, f_bytes(1, any_string("x"))))])])])
    write(corpus, "every_field.pb", full)
    write(corpus, "no_service_name.pb", otlp_request([otlp_resource_logs(
        [key_value("k8s.container.name", any_string("sidecar")), key_value("app", any_string("a"))],
        [otlp_scope("s", "", [], [otlp_record(time=1, body=any_string("line"),
                                              attributes=[key_value("level", any_string("warn"))])])])]))
    write(corpus, "two_resources.pb", otlp_request([
        otlp_resource_logs([key_value("service.name", any_string("a"))],
                           [otlp_scope("", "", [], [otlp_record(time=5, body=any_string("1"))])]),
        otlp_resource_logs([key_value("service.name", any_string("a"))],
                           [otlp_scope("", "", [], [otlp_record(time=6, body=f_double(4, 1e21))])]),
        otlp_resource_logs([], []),
    ]))
    write(corpus, "empty.pb", b"")
    write(corpus, "unknown_fields.pb", otlp_request([f_varint(9, 1) + f_bytes(3, "schema") +
                                                     otlp_resource_logs([], [])]) + f_fixed32(2, 0))
    # Invalid messages.
    write(corpus, "truncated.pb", full[:len(full) // 2])
    write(corpus, "trace_id_of_3_bytes.pb", otlp_one_record(otlp_record(trace=b"abc")))
    write(corpus, "time_after_2262.pb", otlp_one_record(otlp_record(time=0xFFFFFFFFFFFFFFFF)))
    write(corpus, "time_as_varint.pb", otlp_one_record(f_varint(1, 5)))
    nested = any_string("leaf")
    for _ in range(40):
        nested = f_bytes(5, f_bytes(1, nested))
    write(corpus, "nested_40_deep.pb", otlp_one_record(otlp_record(body=nested)))
    write(corpus, "resource_as_string.pb", f_varint(1, 3))
    # Regression: a service.name that is a map left the stream without a service_name.
    write(corpus, "regression_service_name_kvlist.pb", otlp_request([otlp_resource_logs(
        [key_value("service.name", f_bytes(6, f_bytes(1, key_value("a", any_string("x")))))],
        [otlp_scope("", "", [], [otlp_record(time=5, body=any_string("line"))])])]))


def otlp_json_seeds():
    corpus = "otlp_json_fuzz"
    full = {"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}},
            {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
            {"key": "host.name", "value": {"stringValue": "node-1"}}]},
        "scopeLogs": [{
            "scope": {"name": "io.opentelemetry.example", "version": "1.2.3",
                      "attributes": [{"key": "scope.attr", "value": {"boolValue": True}}],
                      "droppedAttributesCount": 1},
            "logRecords": [
                {"timeUnixNano": "1733322791123456789", "observedTimeUnixNano": 1733322791200000000,
                 "severityNumber": "SEVERITY_NUMBER_ERROR", "severityText": "ERROR",
                 "body": {"stringValue": "payment failed"},
                 "attributes": [
                     {"key": "http.status_code", "value": {"intValue": "500"}},
                     {"key": "duration", "value": {"doubleValue": 0.25}},
                     {"key": "inf", "value": {"doubleValue": "Infinity"}},
                     {"key": "raw", "value": {"bytesValue": "AAH+"}},
                     {"key": "tags", "value": {"arrayValue": {"values": [
                         {"stringValue": "a"}, {"intValue": 2}]}}},
                     {"key": "http.request.header", "value": {"kvlistValue": {"values": [
                         {"key": "accept", "value": {"stringValue": "*/*"}}]}}}],
                 "droppedAttributesCount": 2, "flags": 1,
                 "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"},
                {"observed_time_unix_nano": "1733322792000000000", "severity_number": 9,
                 "body": {"kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "ok"}}]}}},
                {}]}]}]}
    write(corpus, "every_field.json", json.dumps(full, indent=1))
    write(corpus, "no_service_name.json", json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "container.name", "value": {"stringValue": "c"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1", "body": {"stringValue": "x"},
                                       "attributes": [{"key": "lvl", "value": {"stringValue": "debug"}}]}]}]}]}))
    write(corpus, "snake_case.json", json.dumps({"resource_logs": [{"scope_logs": [{"log_records": [
        {"time_unix_nano": 5, "severity_text": "info", "trace_id": "", "span_id": ""}]}]}]}))
    write(corpus, "empty_object.json", "{}")
    write(corpus, "nulls.json", '{"resourceLogs":[{"resource":null,"scopeLogs":null}]}')
    # Invalid bodies.
    write(corpus, "not_an_object.json", "[]")
    write(corpus, "truncated.json", json.dumps(full)[:200])
    write(corpus, "trace_id_not_hex.json", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": "zz8efff798038103d269b633813fc60c"}]}]}]}))
    write(corpus, "time_too_large.json", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "18446744073709551615"}]}]}]}))
    write(corpus, "unknown_severity.json", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"severityNumber": "LOUD"}]}]}]}))
    nested = {"stringValue": "leaf"}
    for _ in range(40):
        nested = {"arrayValue": {"values": [nested]}}
    write(corpus, "nested_40_deep.json", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": nested}]}]}]}))
    write(corpus, "regression_service_name_kvlist.json", json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"kvlistValue": {"values": [
            {"key": "a", "value": {"stringValue": "x"}}]}}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "5", "body": {"stringValue": "line"}}]}]}]}))
    write(corpus, "number_overflow.json", '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"flags":1e999}]}]}]}')


if __name__ == "__main__":
    loki_seeds()
    otlp_protobuf_seeds()
    otlp_json_seeds()
