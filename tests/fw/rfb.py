# SPDX-License-Identifier: GPL-2.0-or-later
"""A small RFB (VNC) client for the front-end tests, written from the RFB
protocol (RFC 6143): version 3.8, security None or VNC authentication,
32-bit true colour, Raw and the DesktopSize pseudo-encoding, key events
(X keysyms and QEMU's extended key event) and pointer events. It keeps the
picture as 0xRRGGBB bytes, like a PPM body, and counts the bytes it got."""
import socket
import struct
import time

RAW, DESKTOP_SIZE, QEMU_EXT_KEY = 0, -223, -258


def vnc_des_key(password):
    """VNC authentication's DES key: the password's first 8 bytes, each
    with its bits in reverse order."""
    key = password.encode()[:8].ljust(8, b"\0")
    return bytes(int(f"{b:08b}"[::-1], 2) for b in key)


def vnc_response(password, challenge):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        TripleDES = algorithms.TripleDES
    enc = Cipher(TripleDES(vnc_des_key(password) * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


class AuthFailed(Exception):
    pass


class Rfb:
    def __init__(self, addr, password=None, encodings=(RAW, DESKTOP_SIZE), timeout=30):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.received = 0
        self.ext_key_acked = False
        self.rects = []  # (x, y, w, h, encoding) of every rectangle received
        self.handshake(password)
        self.sock.sendall(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1,
                                      255, 255, 255, 16, 8, 0))
        self.sock.sendall(struct.pack(">BxH", 2, len(encodings)) +
                          b"".join(struct.pack(">i", e) for e in encodings))

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        self.received += n
        return buf

    def handshake(self, password):
        version = self.recv(12)
        assert version.startswith(b"RFB 003."), version
        self.sock.sendall(b"RFB 003.008\n")
        n = self.recv(1)[0]
        if n == 0:
            raise AuthFailed(self.recv(struct.unpack(">I", self.recv(4))[0]).decode())
        types = self.recv(n)
        if password is None:
            if 1 not in types:
                raise AuthFailed(f"security types {list(types)}")
            self.sock.sendall(b"\x01")
        else:
            assert 2 in types, types
            self.sock.sendall(b"\x02")
            self.sock.sendall(vnc_response(password, self.recv(16)))
        result = struct.unpack(">I", self.recv(4))[0]
        if result:
            raise AuthFailed(self.recv(struct.unpack(">I", self.recv(4))[0]).decode())
        self.sock.sendall(b"\x01")  # shared
        self.width, self.height = struct.unpack(">HH", self.recv(4))
        self.recv(16)  # the server's pixel format
        self.name = self.recv(struct.unpack(">I", self.recv(4))[0]).decode()
        self.pixels = bytearray(self.width * self.height * 3)

    def request(self, incremental=True):
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), 0, 0,
                                      self.width, self.height))

    def read_message(self):
        """One server message; returns the rectangles of an update."""
        kind = self.recv(1)[0]
        if kind == 0:
            n = struct.unpack(">xH", self.recv(3))[0]
            rects = []
            for _ in range(n):
                x, y, w, h, enc = struct.unpack(">HHHHi", self.recv(12))
                rects.append((x, y, w, h, enc))
                if enc == RAW:
                    data = self.recv(w * h * 4)
                    for row in range(h):
                        line = data[row * w * 4:(row + 1) * w * 4]
                        rgb = bytearray(w * 3)
                        rgb[0::3], rgb[1::3], rgb[2::3] = line[2::4], line[1::4], line[0::4]
                        at = ((y + row) * self.width + x) * 3
                        self.pixels[at:at + w * 3] = rgb
                elif enc == DESKTOP_SIZE:
                    self.width, self.height = w, h
                    self.pixels = bytearray(w * h * 3)
                elif enc == QEMU_EXT_KEY:
                    self.ext_key_acked = True
                else:
                    raise AssertionError(f"encoding {enc}")
            self.rects += rects
            return rects
        if kind == 1:  # colour map entries: not with true colour
            raise AssertionError("colour map")
        if kind == 2:  # bell
            return []
        if kind == 3:
            self.recv(3)
            self.recv(struct.unpack(">I", self.recv(4))[0])
            return []
        raise AssertionError(f"server message {kind}")

    def update(self, incremental=True, timeout=30):
        """Asks for an update and reads until one with pixels arrives."""
        self.request(incremental)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rects = self.read_message()
            if any(r[4] == DESKTOP_SIZE for r in rects):
                self.request(False)
            elif any(r[4] == RAW for r in rects):
                return rects
        raise AssertionError("no update")

    def picture(self):
        return self.width, self.height, bytes(self.pixels)

    def key(self, keysym, down):
        self.sock.sendall(struct.pack(">BBxxI", 4, int(down), keysym))

    def type_keysyms(self, keysyms):
        for k in keysyms:
            self.key(k, True)
            self.key(k, False)

    def ext_key(self, keysym, code, down):
        self.sock.sendall(struct.pack(">BBHII", 255, 0, int(down), keysym, code))

    def pointer(self, x, y, buttons=0):
        self.sock.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def close(self):
        self.sock.close()
