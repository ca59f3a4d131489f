#!/usr/bin/python3
"""An independent oracle for configs/schema.json: Debian's python3-jsonschema (not valijson, which
the gateway uses) checks that the schema is valid JSON Schema draft 7, that every example in
configs/ satisfies it, and that it refuses what the gateway refuses for the same reason, and that
`mqttsn-gateway --check-config` agrees on each case.

usage: schema_oracle.py SOURCE_DIR GATEWAY_BINARY"""
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema

source, gateway = pathlib.Path(sys.argv[1]), sys.argv[2]
schema = json.loads((source / "configs" / "schema.json").read_text())
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
failures = 0


def gateway_accepts(document):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(document, f)
        f.flush()
        result = subprocess.run([gateway, "--check-config", f.name], capture_output=True, text=True)
        return result.returncode == 0, result.stderr.strip()


examples = sorted(p for p in (source / "configs").glob("*.json") if p.name != "schema.json")
for path in examples:
    errors = list(validator.iter_errors(json.loads(path.read_text())))
    if errors:
        failures += 1
        print(f"FAIL {path.name}: {errors[0].message} at {list(errors[0].absolute_path)}")
    else:
        print(f"ok   {path.name} satisfies the schema")

# Documents both must refuse on the schema's grounds, and documents both must accept.
refused = [
    {"gateway": {"id": 0}}, {"gateway": {"id": 256}},
    {"gateway": {"mode": "bridging"}}, {"upstream": {"passwrd": "x"}}, {"transports": []},
    {"transports": [{"type": "serial"}]}, {"transports": [{"type": "udp", "device": "/dev/x"}]},
    {"transports": [{"type": "rfcomm", "channel": 31}]}, {"transports": [{"type": "xbee"}]},
    {"transports": [{"type": "serial", "device": "/dev/ttyS0", "baud": 1000}]},
    {"topics": {"predefined": [{"id": 0, "name": "a"}]}}, {"topics": {"predefined": [{"name": "a"}]}},
    {"auth": {"allowed_clients": [""]}}, {"auth": {"acl": [{"publish": ["a"]}]}},
    {"stats": {"interval_s": 86401}}, {"log": {"level": "verbose"}}, {"persistence": {"path": ""}},
    {"upstream": {"tls": {"alpn": [""]}, "uri": "ssl://127.0.0.1:8883"}}, [], "gateway",
]
accepted = [
    {}, {"gateway": {"id": 255, "mode": "aggregating"}},
    {"transports": [{"bind": "127.0.0.1:0"}]},
    {"transports": [{"type": "l2cap", "psm": 255, "optional": True}]},
    {"upstream": {"mqtt_version": "5.0", "client": "native"}},
    {"forwarders": {"allowed": [0, "10.0.0.1:1884"]}},
]
# Where the gateway is stricter than JSON Schema, on purpose (configs/README.md, "Rules"): draft 7
# counts 1.0 as an integer; the gateway does not (a fraction point where a count is meant is a
# mistake worth naming).
stricter = [{"gateway": {"id": 1.0}}, {"retry": {"max_attempts": 3.0}}]
def expect(documents, schema_accepts, gateway_accepts_it, what):
    """Each document must be accepted or refused by the schema and by the gateway as given."""
    global failures
    for document in documents:
        schema_ok = validator.is_valid(document)
        gateway_ok, message = gateway_accepts(document)
        if schema_ok != schema_accepts or gateway_ok != gateway_accepts_it:
            failures += 1
            print(f"FAIL {json.dumps(document)}: schema accepts: {schema_ok}, gateway accepts: "
                  f"{gateway_ok} {message}")
        else:
            print(f"ok   {what} {json.dumps(document)}" + (f" ({message})" if message else ""))


expect(stricter, True, False, "the gateway alone refuses")
expect(refused, False, False, "both refuse")
expect(accepted, True, True, "both accept")
print(f"{failures} disagreement(s)")
sys.exit(1 if failures else 0)
