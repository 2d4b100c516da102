# SPDX-License-Identifier: GPL-2.0-or-later
"""docs/man/vmm.1 and vmm-img.1 against the programs' own help, so that the
pages cannot drift from what the programs take: every option vmm -help
lists has its entry in vmm.1 and every entry there is an option -help
lists; every vmm-img command --help lists has its entry in vmm-img.1 with
exactly the options --help gives it; the drivers -help lists are the ones
vmm.1 lists, and its monitor commands those the monitor's help prints. Both pages render without a groff warning at 60, 80 and 100
columns (what man -l does)."""
import json
import os
import pathlib
import re
import shutil
import subprocess

import fwskip

from conftest import ROOT, VMM

VMM_IMG = os.environ.get("VMM_IMG", os.path.join(ROOT, "build", "vmm-img"))
MAN = pathlib.Path(ROOT) / "docs" / "man"


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def unroff(text):
    """A man source line as it reads: font changes, break points, quotes
    and escapes gone."""
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\:", "").replace("\\&", "").replace("\\-", "-").replace("\\e", "\\")
    return text.replace("\\(dq", '"')


def tagged_entries(page):
    """The first line after each .TP: the entry's tag, unroffed (a .B or
    .BI macro's quoted words joined)."""
    lines = page.read_text().splitlines()
    tags = []
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tag = lines[i + 1]
            m = re.match(r"^\.(?:B|BI|BR|I|IR)\s+(.*)$", tag)
            if m:
                words = re.findall(r'"([^"]*)"|(\S+)', m.group(1))
                tag = "".join(a or b for a, b in words)
            tags.append(unroff(tag))
    return tags


def section(page, name):
    """The lines of one .SH section."""
    out, inside = [], False
    for line in page.read_text().splitlines():
        if line.startswith(".SH "):
            inside = line[4:].strip('"') == name
        elif inside:
            out.append(line)
    return out


def vmm_help_options():
    opts = []
    for line in run(VMM, "-help").splitlines():
        m = re.match(r"^  (-[\w-]+)", line)
        if m:
            opts.append(m.group(1))
    return opts


def test_vmm_page_lists_every_option():
    help_opts = vmm_help_options()
    assert len(help_opts) > 60 and "-qmp" in help_opts
    page_opts = [t.split()[0] for t in tagged_entries(MAN / "vmm.1") if t.startswith("-")]
    missing = [o for o in help_opts if o not in page_opts]
    extra = [o for o in page_opts if o not in help_opts]
    assert not missing, f"vmm -help options not in docs/man/vmm.1: {missing}"
    assert not extra, f"docs/man/vmm.1 options vmm -help does not list: {extra}"
    assert len(page_opts) == len(set(page_opts)), "an option twice in vmm.1"


def test_vmm_page_lists_every_driver():
    text = run(VMM, "-help")
    drivers = text.split("-device drivers", 1)[1].split("\n\n")[0].splitlines()[1:]
    help_drivers = " ".join(drivers).split()
    lines = section(MAN / "vmm.1", "DEVICES")
    after_list = lines[len(lines) - lines[::-1].index(".PP"):]  # the list ends the section
    page = [unroff(x) for x in after_list if x.startswith(".B ")]
    page_drivers = " ".join(x[3:] for x in page).split()
    assert help_drivers and page_drivers == help_drivers


def option_tokens(synopsis):
    return sorted(set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", synopsis)))


def img_help_commands():
    """vmm-img --help's commands: name -> its options; '-' lines are options
    of vmm-img itself."""
    cmds = {}
    last = None
    for line in run(VMM_IMG, "--help").splitlines()[1:]:
        if line.startswith("        ") and last:
            cmds[last] += " " + line.strip()
        elif line.startswith("  "):
            words = line.strip()
            last = words.split()[0].rstrip(",")
            cmds[last] = words if last.startswith("-") else words[len(last):]
        else:
            last = None
    return {name: option_tokens(rest) for name, rest in cmds.items()}


def test_vmm_img_page_lists_every_command_and_option():
    helped = img_help_commands()
    assert {"create", "convert", "info", "--help", "--version"} <= set(helped)
    paged = {}
    for tag in tagged_entries(MAN / "vmm-img.1"):
        name = tag.split()[0].rstrip(",")
        if name in paged:
            raise AssertionError(f"{name} twice in vmm-img.1")
        paged[name] = option_tokens(tag if name.startswith("-") else tag[len(name):])
    # the FORMATS entries are formats, not commands
    formats = {"raw", "qcow2", "qcow", "vmdk", "vdi", "vpc"}
    assert formats <= set(paged)
    for f in formats:
        del paged[f]
    assert set(paged) == set(helped), (sorted(set(helped) - set(paged)),
                                       sorted(set(paged) - set(helped)))
    for name, opts in helped.items():
        assert paged[name] == opts, (name, opts, paged[name])


def test_pages_render_without_warnings():
    groff = shutil.which("groff")
    if not groff:
        fwskip.unavailable("groff is not installed")
    for page in ("vmm.1", "vmm-img.1"):
        p = subprocess.run([groff, "-man", "-ww", "-z", str(MAN / page)], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0 and p.stdout == "" and p.stderr == "", (page, p.stderr)
        for width in (58, 78, 98):  # man's line length is the terminal's less 2
            p = subprocess.run([groff, "-man", "-Tutf8", "-ww", f"-rLL={width}n", "-z",
                                str(MAN / page)], capture_output=True, text=True, timeout=30)
            assert p.stderr == "", (page, width, p.stderr)


def monitor_text(*lines):
    """The monitor's answers to lines, through QMP on a paused machine."""
    msgs = ['{"execute": "qmp_capabilities"}']
    msgs += ['{"execute": "human-monitor-command", "arguments": {"command-line": "%s"}}' % x
             for x in lines]
    msgs.append('{"execute": "quit"}')
    p = subprocess.run([VMM, "-qmp", "stdio", "-display", "none", "-S", "-nodefaults"],
                       input="\n".join(msgs) + "\n", capture_output=True, text=True, timeout=60)
    out = [json.loads(x)["return"] for x in p.stdout.splitlines() if '"return": "' in x]
    assert len(out) == len(lines), (p.stdout, p.stderr)
    return [x.replace("\r\n", "\n") for x in out]


def test_vmm_page_lists_every_monitor_command():
    help_text, info_text = monitor_text("help", "info")
    commands = [x.split()[0] for x in help_text.splitlines()]
    infos = [x.split(" -- ")[0].strip() for x in info_text.splitlines()]
    assert len(commands) > 20 and "info qtree" in infos
    tags = []
    for i, line in enumerate(lines := section(MAN / "vmm.1", "MONITOR")):
        if line == ".TP":
            tags.append(unroff(lines[i + 1]))
    page_commands = [t.split()[0] for t in tags if not t.startswith("info ")] + ["info"]
    page_infos = [t for t in tags if t.startswith("info ") and t != "info subcommand"]
    assert sorted(page_commands) == sorted(commands)
    assert page_infos == infos
    for t in tags:  # the synopsis as help gives it
        if not t.startswith("info"):
            assert t in help_text, t
