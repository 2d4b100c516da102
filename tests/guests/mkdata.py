#!/usr/bin/python3
"""Write or check the guest-kit data disk (data.img).

Pattern (version 1), for every 512-byte sector with number n (LBA, from 0):
  bytes 0..26   ASCII  "VMMKIT-DATA-V1 LBA=" followed by n as 8 decimal digits
  bytes 27..31  ASCII  "....\\n"
  bytes 32..511 byte i has the value (n * 31 + i) & 0xff
The default size is 4 MiB (8192 sectors). Sector 0 does not end in 55 AA, so
firmware never treats the disk as bootable.

Usage: mkdata.py write FILE [SIZE_BYTES]   -> prints the sha256
       mkdata.py check FILE [SIZE_BYTES]   -> exit 0 when FILE matches
       mkdata.py sha256 [SIZE_BYTES]       -> prints the expected sha256
"""
import hashlib
import sys

SECTOR = 512
DEFAULT_SIZE = 4 * 1024 * 1024


def sector(n):
    head = b"VMMKIT-DATA-V1 LBA=%08d....\n" % n
    body = bytes(((n * 31 + i) & 0xFF) for i in range(len(head), SECTOR))
    return head + body


def image(size=DEFAULT_SIZE):
    if size % SECTOR:
        raise ValueError("size must be a multiple of 512")
    return b"".join(sector(n) for n in range(size // SECTOR))


def sha256(size=DEFAULT_SIZE):
    return hashlib.sha256(image(size)).hexdigest()


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "sha256":
        size = int(argv[2]) if len(argv) > 2 else DEFAULT_SIZE
        print(sha256(size))
        return 0
    path = argv[2]
    size = int(argv[3]) if len(argv) > 3 else DEFAULT_SIZE
    data = image(size)
    if cmd == "write":
        with open(path, "wb") as f:
            f.write(data)
        print(hashlib.sha256(data).hexdigest())
        return 0
    if cmd == "check":
        with open(path, "rb") as f:
            ok = f.read() == data
        print("ok" if ok else "MISMATCH")
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
