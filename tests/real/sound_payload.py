# SPDX-License-Identifier: GPL-2.0-or-later
"""What tests/real/test_sound.py puts on its script disk: Debian's aplay
with the libraries it needs, the test signals, and the kernel modules of
the cards the kit initramfs does not load.

The aplay payload is a gzipped tar of files at their paths in a Debian root
(usr/bin/aplay, its ELF interpreter, every shared library in the closure
of its DT_NEEDED, usr/share/alsa): the guest extracts it into its
initramfs root and runs /usr/bin/aplay as on Debian. The .debs come from
the Debian archive with `apt-get download` through the guest kit's
private apt state (CACHE/apt/ARCH, as tests/guests/build.sh does, so the
host's apt configuration is untouched) and are kept in CACHE/debs.

    /usr/bin/python3 tests/real/sound_payload.py build   # fetch + build both
    /usr/bin/python3 tests/real/sound_payload.py check   # and run them here
"""
import glob
import gzip
import io
import math
import os
import shlex
import struct
import subprocess
import sys
import tarfile
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# kit arch -> (Debian arch, multiarch triplet)
ARCHES = {"amd64": ("amd64", "x86_64-linux-gnu"), "686": ("i386", "i386-linux-gnu")}
PACKAGES = ("alsa-utils", "libasound2", "libasound2-data", "libc6")


def guest_cache():
    return os.path.abspath(os.environ.get("VMM_GUEST_CACHE") or os.path.join(REPO, "build", "guests"))


# ---- the Debian packages --------------------------------------------------------

def apt_opts(cache, debarch):
    d = os.path.join(cache, "apt", debarch)
    return ["-q", "-o", "APT::Architecture=" + debarch, "-o", "APT::Architectures=" + debarch,
            "-o", "Dir::State::Lists=%s/lists" % d, "-o", "Dir::State::status=%s/status" % d,
            "-o", "Dir::Cache=%s/cache" % d, "-o", "APT::Sandbox::User=root"]


def deb_path(cache, pkg, debarch):
    """The kept .deb of a package for this arch (or arch all), or None."""
    for a in (debarch, "all"):
        found = sorted(glob.glob(os.path.join(cache, "debs", "%s_*_%s.deb" % (pkg, a))))
        if found:
            return found[0]
    return None


def fetch(cache, pkg, debarch):
    """The .deb of `pkg`, downloaded into CACHE/debs unless already there."""
    p = deb_path(cache, pkg, debarch)
    if p:
        return p
    d = os.path.join(cache, "apt", debarch)
    if not glob.glob(os.path.join(d, "lists", "*_Packages*")):
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        open(os.path.join(d, "status"), "w").close()
        subprocess.run(["apt-get", *apt_opts(cache, debarch), "update"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.makedirs(os.path.join(cache, "debs"), exist_ok=True)
    subprocess.run(["apt-get", *apt_opts(cache, debarch), "download", pkg],
                   cwd=os.path.join(cache, "debs"), check=True, stdout=subprocess.DEVNULL)
    p = deb_path(cache, pkg, debarch)
    if not p:
        raise RuntimeError("apt-get download %s (%s) left no .deb" % (pkg, debarch))
    return p


# ---- ELF ------------------------------------------------------------------------

def elf_deps(path):
    """(interpreter or None, [DT_NEEDED sonames]) of an ELF file (readelf)."""
    out = subprocess.run(["readelf", "-d", "-l", "-W", path], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    interp, needed = None, []
    for ln in out.split("\n"):
        if "Requesting program interpreter:" in ln:
            interp = ln.split(":", 1)[1].strip(" []")
        elif "(NEEDED)" in ln:
            needed.append(ln.split("[", 1)[1].rstrip("]"))
    return interp, needed


def in_root(root, rel):
    """The host path of the file `rel` names inside the unpacked root,
    following symbolic links (absolute ones relative to the root)."""
    path = rel.lstrip("/")
    for _ in range(16):
        p = os.path.join(root, path)
        if not os.path.islink(p):
            return p
        link = os.readlink(p)
        path = link.lstrip("/") if link.startswith("/") else \
            os.path.normpath(os.path.join(os.path.dirname(path), link))
    raise RuntimeError("symbolic link loop at %s" % rel)


def payload_files(root, triplet):
    """{path in the payload: host file} for aplay and amixer, the closure of
    their libraries and their interpreter, all read from the unpacked root."""
    lib_dirs = ["lib/" + triplet, "usr/lib/" + triplet]
    # amixer: the SB16 gives its one 16-bit DMA channel to playback unless
    # a mixer control moves it to capture (the 8-bit play needs that)
    files = {b: in_root(root, b) for b in ("usr/bin/aplay", "usr/bin/amixer")}
    todo, seen, loader = list(files), set(), None
    while todo:
        rel = todo.pop()
        interp, needed = elf_deps(files[rel])
        if interp and interp.lstrip("/") not in files:
            loader = os.path.basename(interp)
            files[interp.lstrip("/")] = in_root(root, interp)
            if not os.path.isfile(files[interp.lstrip("/")]):
                raise FileNotFoundError("interpreter %s not in %s" % (interp, PACKAGES))
        for so in needed:
            # libc's own DT_NEEDED of the loader: the loader is that library
            if so in seen or so == loader:
                continue
            seen.add(so)
            for d in lib_dirs:
                if os.path.lexists(os.path.join(root, d, so)):
                    files[d + "/" + so] = in_root(root, d + "/" + so)
                    todo.append(d + "/" + so)
                    break
            else:
                raise FileNotFoundError("%s (needed by %s) is in none of %s" % (so, rel, PACKAGES))
    for dirpath, _, names in os.walk(os.path.join(root, "usr/share/alsa")):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p):
                files[os.path.relpath(p, root)] = p
    return files


def tar_bytes(files):
    """A deterministic gzipped ustar archive of `files` ({name: host
    path}): the guest reads it from an IDE disk, and gunzip in user mode is
    cheap next to the exits of the reads."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        dirs = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    t.addfile(info)
            data = open(files[name], "rb").read()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if os.access(files[name], os.X_OK) else 0o644
            t.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), 9, mtime=0)


def build(arch, cache=None):
    """Path of the aplay payload (.tar.gz) for a kit arch ("amd64", "686"), built
    (and its .debs fetched) unless CACHE/sound/aplay-ARCH.tar.gz is current."""
    cache = cache or guest_cache()
    debarch, triplet = ARCHES[arch]
    debs = [fetch(cache, p, debarch) for p in PACKAGES]
    out = os.path.join(cache, "sound", "aplay-%s.tar.gz" % arch)
    stamp = "\n".join([os.path.basename(d) for d in debs]
                      + [str(os.path.getmtime(os.path.abspath(__file__)))]) + "\n"
    if os.path.exists(out) and os.path.exists(out + ".inputs") \
            and open(out + ".inputs").read() == stamp:
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with tempfile.TemporaryDirectory() as root:
        for d in debs:
            subprocess.run(["dpkg-deb", "-x", d, root], check=True)
        data = tar_bytes(payload_files(root, triplet))
    with open(out + ".tmp", "wb") as f:
        f.write(data)
    os.replace(out + ".tmp", out)
    with open(out + ".inputs", "w") as f:
        f.write(stamp)
    return out


# ---- kernel modules -----------------------------------------------------------------

def modinfo(data):
    """{key: [values]} from a .ko's .modinfo section (ELF32 or ELF64, LE)."""
    if data[:4] != b"\x7fELF" or data[5] != 1:
        raise ValueError("not a little-endian ELF module")
    if data[4] == 2:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        sec = lambda i: struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)  # noqa: E731
        name_off, off_i, size_i = 0, 4, 5
    else:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
        sec = lambda i: struct.unpack_from("<IIIIII", data, shoff + i * shentsize)  # noqa: E731
        name_off, off_i, size_i = 0, 4, 5
    strtab = sec(shstrndx)
    names = data[strtab[off_i]:strtab[off_i] + strtab[size_i]]
    out = {}
    for i in range(shnum):
        s = sec(i)
        n = names[s[name_off]:names.index(b"\0", s[name_off])]
        if n != b".modinfo":
            continue
        for item in data[s[off_i]:s[off_i] + s[size_i]].split(b"\0"):
            if b"=" in item:
                k, v = item.decode(errors="replace").split("=", 1)
                out.setdefault(k, []).append(v)
    return out


def kernel_modules(kit_dir, arch, wanted):
    """[(name, bytes)] of the modules `wanted` and everything they depend
    on (modinfo "depends", as depmod reads it), dependencies first, from
    the kit's kernel package (kit_dir/debs/linux-image-KABI-ARCH_*.deb)."""
    kabi = open(os.path.join(kit_dir, "kabi")).read().strip()
    debarch = ARCHES[arch][0]
    debs = glob.glob(os.path.join(kit_dir, "debs", "linux-image-%s-%s_*_%s.deb" % (kabi, arch, debarch)))
    if not debs:
        raise FileNotFoundError("no linux-image-%s-%s .deb in %s/debs" % (kabi, arch, kit_dir))
    with tempfile.TemporaryDirectory() as d:
        subprocess.run("dpkg-deb --fsys-tarfile %s | tar -x -C %s --wildcards './lib/modules/*/kernel/*'"
                       % (shlex.quote(debs[0]), shlex.quote(d)), shell=True, check=True)
        by_name = {}
        for p in glob.glob(os.path.join(d, "lib/modules/*/kernel/**/*.ko"), recursive=True):
            by_name[os.path.basename(p)[:-3].replace("-", "_")] = p
        order, done = [], set()

        def visit(name):
            name = name.replace("-", "_")
            if name in done:
                return
            done.add(name)
            if name not in by_name:
                raise FileNotFoundError("module %s is not in %s (built in?)" % (name, debs[0]))
            data = open(by_name[name], "rb").read()
            for dep in ",".join(modinfo(data).get("depends", [""])).split(","):
                if dep:
                    visit(dep)
            order.append((name, data))

        for w in wanted:
            visit(w)
        return order


# ---- test signals -------------------------------------------------------------------

SWEEP_SECONDS = 2.0
SWEEP_FROM, SWEEP_TO = 100.0, 5000.0   # Hz, exponential
SWEEP_LEVEL = 0.7                      # of full scale


def sweep(rate, seconds=SWEEP_SECONDS):
    """The sweep's values in [-SWEEP_LEVEL, SWEEP_LEVEL], one per frame: an
    exponential sweep from SWEEP_FROM to SWEEP_TO (deterministic: the same
    floats on every host for the same rate)."""
    n = int(round(rate * seconds))
    k = math.log(SWEEP_TO / SWEEP_FROM)
    return [SWEEP_LEVEL * math.sin(2 * math.pi * SWEEP_FROM * seconds / k
                                   * (math.exp(k * i / n) - 1.0)) for i in range(n)]


def sweep16_frames():
    """16-bit stereo at 44100 Hz: (left, right) per frame, right the
    left inverted (a swapped or dropped channel shows)."""
    return [(int(round(v * 32767)), -int(round(v * 32767))) for v in sweep(44100)]


def sweep8_samples():
    """8-bit unsigned mono at 22050 Hz."""
    return [128 + int(round(v * 127)) for v in sweep(22050)]


def wav_bytes(rate, channels, width, frames):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def sweep16_wav():
    f = sweep16_frames()
    return wav_bytes(44100, 2, 2, struct.pack("<%dh" % (2 * len(f)), *[s for fr in f for s in fr]))


def sweep8_wav():
    return wav_bytes(22050, 1, 1, bytes(sweep8_samples()))


# ---- local proof ------------------------------------------------------------------------

def check(arch, cache=None):
    """Run the payload's aplay on this host through its own loader: its
    --version, and --list-devices (no sound card needed: it must fail
    cleanly or list, never miss a library). Returns the outputs."""
    tar = build(arch, cache)
    triplet = ARCHES[arch][1]
    with tempfile.TemporaryDirectory() as d:
        with tarfile.open(tar) as t:
            t.extractall(d)
        interp, _ = elf_deps(os.path.join(d, "usr/bin/aplay"))
        libs = "%s/lib/%s:%s/usr/lib/%s" % (d, triplet, d, triplet)
        env = dict(os.environ, ALSA_CONFIG_PATH=os.path.join(d, "usr/share/alsa/alsa.conf"),
                   ALSA_CONFIG_DIR=os.path.join(d, "usr/share/alsa"))
        base = [os.path.join(d, interp.lstrip("/")), "--library-path", libs,
                os.path.join(d, "usr/bin/aplay")]
        out = []
        wav = os.path.join(d, "sweep16.wav")
        with open(wav, "wb") as f:
            f.write(sweep16_wav())
        for args in (["--version"], ["--list-devices"], ["-L"], ["-D", "null", wav]):
            p = subprocess.run(base + args, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
            out.append((args, p.returncode, p.stdout))
        return out


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "build"
    for arch in ARCHES:
        tar = build(arch)
        with tarfile.open(tar) as t:
            names = [m.name for m in t.getmembers() if m.isfile() and "share/alsa" not in m.name]
        print("%s: %s (%d bytes): %s" % (arch, tar, os.path.getsize(tar), " ".join(names)))
        if cmd == "check":
            for args, rc, text in check(arch):
                print("  aplay %s -> rc=%d: %s" % (" ".join(args), rc, text.strip().replace("\n", " | ")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
