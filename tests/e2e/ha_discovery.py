#!/usr/bin/env python3
"""Check what a sensor published over MQTT against Home Assistant's documented MQTT discovery
schema (home-assistant.io/integrations/mqtt, sensor.mqtt, binary_sensor.mqtt, event.mqtt):
topic layout, required keys, the type and allowed values of every key used, no key outside
each platform's documented set, one device per sensor, and that every entity's state topic
carries payloads its template and payload_on/off or event_types accept.

usage: ha_discovery.py LOG SENSOR     LOG: `mosquitto_sub -v` lines ("topic payload")
Prints one line per finding; exit 1 when anything is wrong.
"""
import json
import re
import sys

COMMON = {
    "name": str, "unique_id": str, "availability_topic": str, "device": dict, "icon": str,
    "state_topic": str, "value_template": str, "entity_category": str, "device_class": str,
    "payload_available": str, "payload_not_available": str, "qos": int, "enabled_by_default": bool,
    "json_attributes_topic": str, "json_attributes_template": str, "origin": dict,
    "default_entity_id": str, "encoding": str,
}
PLATFORM = {
    "sensor": {"unit_of_measurement": str, "state_class": str, "expire_after": int,
               "force_update": bool, "suggested_display_precision": int, "last_reset_value_template": str},
    "binary_sensor": {"payload_on": str, "payload_off": str, "expire_after": int,
                      "force_update": bool, "off_delay": int},
    "event": {"event_types": list},
}
REQUIRED = {"sensor": ["state_topic"], "binary_sensor": ["state_topic"],
            "event": ["state_topic", "event_types"]}
DEVICE = {"identifiers": list, "connections": list, "name": str, "manufacturer": str, "model": str,
          "sw_version": str, "hw_version": str, "configuration_url": str, "suggested_area": str,
          "via_device": str, "model_id": str, "serial_number": str}
STATE_CLASS = {"measurement", "measurement_angle", "total", "total_increasing"}
BINARY_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                  "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
                  "occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety",
                  "smoke", "sound", "tamper", "update", "vibration", "window"}
EVENT_CLASSES = {"button", "doorbell", "motion"}
TOPIC = re.compile(r"^homeassistant/(sensor|binary_sensor|event)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/config$")
TEMPLATE = re.compile(r"^\{\{ value_json\.([a-z_]+) \}\}$")

bad = []


def problem(msg):
    bad.append(msg)
    print("ha-discovery: FAIL " + msg)


def main(log, sensor):
    msgs = []
    for line in open(log, encoding="utf-8", errors="replace"):
        topic, _, payload = line.rstrip("\n").partition(" ")
        msgs.append((topic, payload))
    node = f"netwatch_{sensor}"
    configs = {t: p for t, p in msgs if t.startswith("homeassistant/") and f"/{node}/" in t}
    if not configs:
        problem(f"no discovery config for {node}")
    devices = set()
    kinds = set()
    for topic, payload in configs.items():
        m = TOPIC.match(topic)
        if not m:
            problem(f"{topic}: not <prefix>/<component>/<node_id>/<object_id>/config")
            continue
        comp = m.group(1)
        kinds.add(comp)
        try:
            c = json.loads(payload)
        except ValueError as e:
            problem(f"{topic}: not JSON ({e})")
            continue
        allowed = dict(COMMON, **PLATFORM[comp])
        for k, v in c.items():
            if k not in allowed:
                problem(f"{topic}: key {k!r} is not in {comp}'s documented schema")
            elif not isinstance(v, allowed[k]) or (allowed[k] is int and isinstance(v, bool)):
                problem(f"{topic}: {k} should be {allowed[k].__name__}, is {v!r}")
        for k in REQUIRED[comp] + ["unique_id", "device"]:
            if k not in c:
                problem(f"{topic}: required key {k!r} missing")
        d = c.get("device", {})
        for k, v in d.items():
            if k not in DEVICE or not isinstance(v, DEVICE[k]):
                problem(f"{topic}: device key {k!r} = {v!r} is not in the documented device map")
        if not (d.get("identifiers") or d.get("connections")):
            problem(f"{topic}: the device has neither identifiers nor connections")
        devices.add(json.dumps(d.get("identifiers"), sort_keys=True))
        if "state_class" in c and c["state_class"] not in STATE_CLASS:
            problem(f"{topic}: state_class {c['state_class']!r}")
        if comp == "binary_sensor" and c.get("device_class", "safety") not in BINARY_CLASSES:
            problem(f"{topic}: binary_sensor device_class {c['device_class']!r}")
        if comp == "event" and c.get("device_class", "button") not in EVENT_CLASSES:
            problem(f"{topic}: event device_class {c['device_class']!r}")
        if c.get("entity_category", "diagnostic") not in ("config", "diagnostic"):
            problem(f"{topic}: entity_category {c['entity_category']!r}")
        if comp == "event" and not (c.get("event_types") and all(isinstance(x, str) for x in c["event_types"])):
            problem(f"{topic}: event_types is not a non-empty list of strings")
        # Every state the entity's topic carried must be one the entity accepts.
        states = [p for t, p in msgs if t == c.get("state_topic")]
        if comp != "event" and not states:
            problem(f"{topic}: nothing was published on its state topic {c.get('state_topic')}")
        for p in states:
            try:
                v = json.loads(p)
            except ValueError:
                problem(f"{topic}: state {p[:80]!r} is not JSON")
                continue
            if comp == "event":
                if v.get("event_type") not in c.get("event_types", []):
                    problem(f"{topic}: event_type {v.get('event_type')!r} is not one of event_types")
                continue
            t = TEMPLATE.match(c.get("value_template", ""))
            if not t or t.group(1) not in v:
                problem(f"{topic}: value_template {c.get('value_template')!r} finds nothing in {p[:80]}")
                continue
            x = v[t.group(1)]
            if comp == "binary_sensor" and x not in (c.get("payload_on", "ON"), c.get("payload_off", "OFF")):
                problem(f"{topic}: state {x!r} is neither payload_on nor payload_off")
            if comp == "sensor" and "state_class" in c and not isinstance(x, (int, float)):
                problem(f"{topic}: a numeric sensor got {x!r}")
    if len(devices) > 1:
        problem(f"{node}: its entities name {len(devices)} different devices")
    for k in ("sensor", "binary_sensor", "event"):
        if k not in kinds:
            problem(f"{node}: no {k} entity")
    if not bad:
        print(f"ha-discovery: ok   {node}: {len(configs)} configs ({', '.join(sorted(kinds))}) valid, one device, states accepted")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
