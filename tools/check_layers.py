#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fails when a file includes the header of a higher layer, or of another
layer of the same rank (docs/architecture.md, "Layers"). Each layer only
looks down:

    top      src/main.c src/cli.c tools/*.c   the program, the command line
    board    src/board/                       what sits where, its contents
    control  src/control/                     QMP, monitor, channels
    hw       hw/*/                            device models
    block, net, chardev, loader, ui, audio    backends, the kernel loaders, the
                                              front-ends (VNC, the SDL window)
    core     src/core/                        KVM, vCPUs, buses, memory, events

A header's layer is the folder of the .c file of the same name (include/
is flat; include/hw/ holds device headers); the few headers without one
are in HEADER_LAYER below. Also fails on two files that include each
other's headers, directly or through other headers (a.c includes b.h,
b.c includes a.h): a cycle inside one layer, which the layer rule cannot
see.

    tools/check_layers.py [ROOT]      (`make layercheck`; `make unit` runs it first)
"""
import os
import re
import sys

RANK = {"core": 0, "block": 1, "net": 1, "chardev": 1, "loader": 1, "ui": 1, "audio": 1, "hw": 2,
        "control": 3, "board": 4, "top": 5}

# Headers that have no .c of their own name.
HEADER_LAYER = {
    "irq.h": "core",      # struct irq_line, implemented by isa_irq.c and the PIIX3
    "virtio.h": "core",   # the virtqueue (virtqueue.c)
    "vmctl.h": "control",  # what the control interfaces may do to the machine
    "machine.h": "board",  # the board (machine_pc.c)
    "cli.h": "top",
}

# Private headers that are another module's interface, for the pair check
# (atapi.c is built on ide_core.c, whose helpers ide_internal.h declares).
HEADER_MODULE = {
    "ide_internal.h": "ide_core",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def source_layer(path):
    parts = path.split("/")
    if parts[0] == "hw":
        return "hw"
    if parts[0] == "src":
        return parts[1] if len(parts) > 2 else "top"
    if parts[0] == "tools":
        return "top"
    return None


def walk(root, top):
    for d, _, files in os.walk(os.path.join(root, top)):
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(d, f), root)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    sources = [p for top in ("src", "hw") for p in walk(root, top)]
    sources += [os.path.join("tools", f) for f in sorted(os.listdir(os.path.join(root, "tools")))
                if f.endswith(".c")]
    # module name -> layer, from where its .c lives
    module_layer = {}
    for p in sources:
        if p.endswith(".c") and source_layer(p) is not None and not p.startswith("tools/"):
            module_layer[os.path.basename(p)[:-2]] = source_layer(p)

    def header_layer(inc):
        if inc.startswith("hw/"):
            return "hw"
        if inc in HEADER_LAYER:
            return HEADER_LAYER[inc]
        return module_layer.get(inc[:-2]) if inc.endswith(".h") else None

    headers = [os.path.join("include", h) for h in os.listdir(os.path.join(root, "include"))
               if h.endswith(".h")]
    headers += [os.path.join("include/hw", h) for h in os.listdir(os.path.join(root, "include/hw"))
                if h.endswith(".h")]

    errors = []
    includes = {}
    for p in sources + headers:
        with open(os.path.join(root, p), encoding="utf-8") as f:
            incs = INCLUDE.findall(f.read())
        if p.startswith("include/"):
            layer = header_layer(p[len("include/"):])
            if layer is None:
                errors.append(f"{p}: no layer (no .c of its name): add it to HEADER_LAYER in {sys.argv[0]}")
                continue
        else:
            layer = source_layer(p)
        includes[p] = incs
        for inc in incs:
            if not os.path.exists(os.path.join(root, "include", inc)):
                continue  # a private header next to its file (ide_internal.h)
            hl = header_layer(inc)
            if hl is None:
                errors.append(f"{p}: includes {inc}, which has no layer: add it to HEADER_LAYER")
            elif hl != layer and RANK[hl] >= RANK[layer]:
                errors.append(f"{p} ({layer}) includes {inc} ({hl}): a layer may only include"
                              " its own and lower layers' headers")

    # a.c includes b.h and b.c includes a.h, both in one layer
    def module_of(inc):
        base = os.path.basename(inc)
        return HEADER_MODULE.get(base, base[:-2])

    def resolve(includer, inc):
        for cand in (os.path.join(os.path.dirname(includer), inc), os.path.join("include", inc)):
            if os.path.exists(os.path.join(root, cand)):
                return os.path.normpath(cand)
        return None

    def reach(path, seen):
        # every header 'path' includes, directly or through other headers
        try:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                incs = INCLUDE.findall(f.read())
        except OSError:
            return seen
        for inc in incs:
            h = resolve(path, inc)
            if h and h not in seen:
                seen.add(h)
                reach(h, seen)
        return seen

    by_module = {os.path.basename(p)[:-2]: p for p in includes if p.endswith(".c")}
    seen_modules = {m: {module_of(h) for h in reach(p, set())} for m, p in by_module.items()}
    for a, pa in sorted(by_module.items()):
        for b in sorted(seen_modules[a]):
            pb = by_module.get(b)
            if b == a or pb is None or a > b:
                continue
            if a in seen_modules[b]:
                errors.append(f"{pa} and {pb} include each other's headers: one of them must"
                              " only look down (a table of operations, or a common part below both)")

    for e in errors:
        print("layers: " + e)
    if errors:
        return 1
    print(f"layers: {len(includes)} files, every include looks down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
