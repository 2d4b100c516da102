# SPDX-License-Identifier: GPL-2.0-or-later
"""How the sound tests judge a recording against the signal played: the
one copy of the analysis, for the firmware-level tests
(tests/fw/test_sound.py: wav and SDL recordings) and the real-guest ones
(tests/real/test_sound.py, which puts tests/fw on its path). Python 3
standard library, %-formatting (the real-guest layer's Python may be old).

A recording is cut into its sounding stretches (silence: |sample| <=
SILENCE for GAP_FRAMES or more); a stretch is aligned with its reference
by the lag that correlates best over its first 100 ms, then correlated
over its whole length."""

SILENCE = 64          # |s16| at or below: silence
GAP_FRAMES = 441      # 10 ms of silence at 44100 Hz ends a sounding stretch
RATE = 44100          # the audiodevs' default format: 44100 Hz s16 stereo


def split_silence(data, silence, frame):
    """The recording (bytes) before its trailing silence (the byte
    `silence` repeated), cut at a frame boundary, and the silence's length
    in frames of `frame` bytes."""
    body = data.rstrip(silence)
    body = data[:-(-len(body) // frame) * frame]
    return body, (len(data) - len(body)) // frame


def stretches(left, right, silence=SILENCE, gap=GAP_FRAMES):
    """[(first, end)] frame ranges that sound, split at `gap` frames of
    silence in both channels."""
    out, start, last = [], None, None
    for i, (a, b) in enumerate(zip(left, right)):
        if abs(a) > silence or abs(b) > silence:
            if start is None:
                start = i
            elif i - last > gap:
                out.append((start, last + 1))
                start = i
            last = i
    if start is not None:
        out.append((start, last + 1))
    return out


def correlation(a, b):
    """Pearson's correlation of the common length of a and b (0 when
    either is constant)."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / (va * vb) ** 0.5 if va and vb else 0.0


def upsample2(src):
    """src at twice its rate, linearly interpolated (the audio layer's
    converter from a rate to its double): each sample, then the midpoint
    to the next (the last one repeated)."""
    up = []
    for k in range(len(src)):
        nxt = src[k + 1] if k + 1 < len(src) else src[k]
        up += [src[k], (src[k] + nxt) / 2]
    return up


def overlap(rec, ref, at):
    """The recording from frame `at` and the reference, cut to where both
    have frames (`at` may be negative: the reference starts earlier)."""
    if at < 0:
        ref = ref[-at:]
        at = 0
    n = min(len(ref), len(rec) - at)
    return rec[at:at + n], ref[:n]


def gain(rec, ref):
    """The least-squares factor from the reference to the recording."""
    n = min(len(rec), len(ref))
    return sum(a * b for a, b in zip(rec[:n], ref[:n])) / sum(b * b for b in ref[:n])


def aligned_correlation(rec, ref, start, rate=RATE, silence=SILENCE, search=32):
    """(lag, correlation, gain): the recording from its stretch's `start`
    against the reference, with the lag (within `search` frames of where
    the first sounding frames line up) that correlates best over the first
    100 ms."""
    first = next(i for i, v in enumerate(ref) if abs(v) > silence)
    probe = rate // 10

    def early(lag):
        a, b = overlap(rec, ref[:first + probe], start - first + lag)
        return correlation(a, b)

    best = max(range(-search, search + 1), key=early)
    a, b = overlap(rec, ref, start - first + best)
    return best, correlation(a, b), gain(a, b)
