# SPDX-License-Identifier: GPL-2.0-or-later
"""query-qmp-schema on a running machine: the schema names exactly the
commands vmm dispatches, every reply and event the test sees is a value of
the type the schema gives it, every event the sources emit is in it, and
its SchemaInfo objects have the keys and member types QEMU's have for the
same commands (QEMU's own reply, when qemu-system-x86_64 is installed)."""
import json
import pathlib
import re
import shutil
import subprocess

import pytest

import fwskip

from test_qmp import Qmp, sock_path, vm  # noqa: F401 (vm is a fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-system-x86_64")

# What each meta-type's SchemaInfo carries besides "name" and "meta-type"
# (QEMU's SchemaInfo variants; "features" only where there are some).
SHAPES = {
    "command": {"arg-type", "ret-type"},
    "event": {"arg-type"},
    "object": {"members"},
    "enum": {"members", "values"},
    "array": {"element-type"},
    "builtin": {"json-type"},
}


def index(schema):
    return {e["name"]: e for e in schema}


def check_value(by, value, type_name, where):
    """value is a value of the schema type type_name."""
    t = by[type_name]
    meta = t["meta-type"]
    if meta == "builtin":
        jt = t["json-type"]
        ok = {"value": True,
              "string": isinstance(value, str),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool),
              "boolean": isinstance(value, bool),
              "null": value is None}[jt]
        assert ok, f"{where}: {value!r} is no {type_name}"
    elif meta == "enum":
        assert value in t["values"], f"{where}: {value!r} is no value of {type_name} {t['values']}"
    elif meta == "array":
        assert isinstance(value, list), f"{where}: {value!r} is no array"
        for i, v in enumerate(value):
            check_value(by, v, t["element-type"], f"{where}[{i}]")
    else:
        assert isinstance(value, dict), f"{where}: {value!r} is no object"
        members = {m["name"]: m for m in t["members"]}
        for k, v in value.items():
            assert k in members, f"{where}: member {k!r} is not in {type_name}"
            check_value(by, v, members[k]["type"], f"{where}.{k}")
        for m in t["members"]:
            assert "default" in m or m["name"] in value, f"{where}: {type_name} lacks {m['name']!r}"


def emitted_events():
    """The event names the sources pass to control_event() or a device's
    event callback, as string literals."""
    names = set()
    for path in list(ROOT.glob("src/**/*.c")) + list(ROOT.glob("hw/**/*.c")):
        for line in path.read_text(errors="replace").splitlines():
            if "control_event(" in line or "->event(" in line:
                names.update(re.findall(r'"([A-Z][A-Z_]+)"', line))
    return names


def kind(by, type_name):
    """A type as far as two schemas with different names can compare it."""
    t = by[type_name]
    if t["meta-type"] == "builtin":
        return t["json-type"]
    if t["meta-type"] == "array":
        return "array of " + kind(by, t["element-type"])
    if t["meta-type"] == "alternate":
        return "alternate"
    return t["meta-type"]


@pytest.fixture
def schema_vm(vm, tmp_path):
    path = sock_path(tmp_path)
    cd = tmp_path / "cd.iso"
    cd.write_bytes(bytes(1 << 20))
    v = vm("-qmp", f"unix:{path},server=on,wait=off", "-device", "virtio-balloon-pci",
           "-cdrom", str(cd), "-vnc", f"unix:{tmp_path}/vnc.sock")
    q = Qmp(path).negotiate()
    yield v, q
    q.close()


def test_schema_is_what_vmm_dispatches(schema_vm):
    v, q = schema_vm
    schema = q.ok("query-qmp-schema")
    by = index(schema)
    assert len(by) == len(schema), "a name twice in the schema"
    for e in schema:
        assert set(e) - {"name", "meta-type"} == SHAPES[e["meta-type"]], e
    check_value(by, schema, "[SchemaInfo]", "query-qmp-schema")

    commands = {e["name"] for e in schema if e["meta-type"] == "command"}
    assert commands == {c["name"] for c in q.ok("query-commands")}
    # each command's argument names are the ones vmm takes, with their types
    for name in sorted(commands - {"qmp_capabilities"}):
        arg_type = by[by[name]["arg-type"]]
        r = q.cmd(name, {"no-such-argument": 1})
        assert r["error"]["desc"] == "Parameter 'no-such-argument' is unexpected", (name, r)
        for m in arg_type["members"]:
            k = kind(by, m["type"])
            if k == "value":
                continue
            r = q.cmd(name, {m["name"]: {} if k.startswith("array") else []})
            assert r["error"]["desc"].startswith(f"Invalid parameter type for '{m['name']}'"), \
                (name, m, r)
        required = [m["name"] for m in arg_type["members"] if "default" not in m]
        if required:
            r = q.cmd(name, {})
            assert r["error"]["desc"] == f"Parameter '{required[0]}' is missing", (name, r)

    # every query that takes no argument answers in its return type
    queries = [n for n in sorted(commands) if n.startswith(("query-", "x-query-"))
               and not any("default" not in m for m in by[by[n]["arg-type"]]["members"])]
    assert len(queries) > 20
    for name in queries:
        r = q.cmd(name)
        assert "return" in r, (name, r)
        check_value(by, r["return"], by[name]["ret-type"], name)
    hmp = q.ok("human-monitor-command", {"command-line": "info version"})
    check_value(by, hmp, by["human-monitor-command"]["ret-type"], "human-monitor-command")

    # events: those the sources emit are all in the schema; those seen now
    # carry the data the schema gives them
    events = {e["name"] for e in schema if e["meta-type"] == "event"}
    assert emitted_events() == events
    q.ok("stop")
    q.ok("cont")
    q.ok("balloon", {"value": 32 << 20})
    q.ok("eject", {"device": "ide1-cd0"})
    for name in ("STOP", "RESUME", "DEVICE_TRAY_MOVED"):
        e = q.event(name)
        check_value(by, e.get("data", {}), by[name]["arg-type"], name)
    q.ok("quit")
    e = q.event("SHUTDOWN")
    check_value(by, e["data"], by["SHUTDOWN"]["arg-type"], "SHUTDOWN")
    assert v.finish()[0] == 0


def qemu_schema():
    if not QEMU:
        fwskip.unavailable("qemu-system-x86_64 is not installed: no schema to compare with")
    msgs = b'{"execute": "qmp_capabilities"}\n{"execute": "query-qmp-schema"}\n' \
           b'{"execute": "quit"}\n'
    p = subprocess.run([QEMU, "-machine", "pc", "-accel", "tcg", "-qmp", "stdio", "-nodefaults",
                        "-display", "none", "-S"], input=msgs, capture_output=True, timeout=60)
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if isinstance(msg.get("return"), list):
            return msg["return"]
    pytest.fail(f"no schema from QEMU: {p.stdout[:400]!r} {p.stderr[:400]!r}")


# Where vmm's arguments differ from QEMU's on purpose: the migration
# commands' uri is required (vmm takes no "channels"), and vmm's
# query-blockstats takes "flat" as well.
ARG_DIFFERENCES = {("migrate", "uri"), ("migrate-incoming", "uri"), ("query-blockstats", "flat")}


def test_schema_shape_matches_qemu(schema_vm):
    _, q = schema_vm
    ours = q.ok("query-qmp-schema")
    theirs = qemu_schema()
    ob, tb = index(ours), index(theirs)
    # the keys of each meta-type's SchemaInfo are QEMU's, member objects too
    for e in ours:
        same = [t for t in theirs if t["meta-type"] == e["meta-type"]]
        assert same, e
        qemu_keys = set().union(*(set(t) for t in same)) - {"features"}
        assert set(e) <= qemu_keys, (e, qemu_keys)
        for k, v in e.items():
            assert {type(t[k]) for t in same if k in t} == {type(v)}, (e["name"], k)
        for m in e.get("members", []):
            qemu_member_keys = set().union(*(set(mm) for t in same for mm in t.get("members", [])))
            assert set(m) <= qemu_member_keys, (e["name"], m)
            for k, v in m.items():
                assert {type(mm[k]) for t in same for mm in t.get("members", []) if k in mm} \
                    == {type(v)}, (e["name"], m, k)

    # commands and events both have: same kinds of arguments and returns
    compared = 0
    for name, e in ob.items():
        if e["meta-type"] not in ("command", "event") or name not in tb:
            continue
        t = tb[name]
        assert t["meta-type"] == e["meta-type"], name
        if e["meta-type"] == "command":
            assert kind(ob, e["ret-type"]) == kind(tb, t["ret-type"]), name
        qmembers = {m["name"]: m for m in tb[t["arg-type"]]["members"]}
        for m in ob[e["arg-type"]]["members"]:
            if (name, m["name"]) in ARG_DIFFERENCES:
                continue
            assert m["name"] in qmembers, (name, m)
            qm = qmembers[m["name"]]
            assert ("default" in m) == ("default" in qm), (name, m, qm)
            ok, qk = kind(ob, m["type"]), kind(tb, qm["type"])
            # vmm checks QEMU's unions itself: "any" where QEMU has an object
            assert ok == qk or (ok == "value" and qk in ("object", "alternate")) or \
                (ok == "array of value" and qk == "array of object"), (name, m, ok, qk)
        compared += 1
    vmm_only = {n for n, e in ob.items() if e["meta-type"] == "command"} - set(tb)
    assert all(n.startswith("x-") for n in vmm_only), vmm_only
    assert compared >= 60
