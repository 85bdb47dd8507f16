#!/usr/bin/env python3
"""Draws the Teams app icons with the standard library only (zlib + struct), so they can be
regenerated anywhere: color.png (192x192, full colour) and outline.png (32x32, white on
transparent, as Teams requires). Run: python3 appPackage/make-icons.py"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ACCENT = (0x46, 0x4E, 0xB8)  # Teams purple; also the manifest's accentColor


def bell(x, y):
    """True inside a bell shape drawn on the unit square (0..1, y down)."""
    cx = 0.5
    # Dome: half-ellipse on top of a flaring body.
    if 0.18 <= y <= 0.70:
        t = (y - 0.18) / 0.52  # 0 at the top of the dome, 1 at the rim
        half = 0.12 + 0.20 * math.sqrt(t) + 0.06 * t * t
        if abs(x - cx) <= half:
            return True
    if 0.66 <= y <= 0.74 and abs(x - cx) <= 0.40:  # rim
        return True
    if (x - cx) ** 2 + (y - 0.80) ** 2 <= 0.075 ** 2:  # clapper
        return True
    if (x - cx) ** 2 + (y - 0.15) ** 2 <= 0.05 ** 2:  # knob
        return True
    return False


def render(size, fg, bg, pad, samples=4):
    """RGBA rows; bell in fg over bg (bg may be transparent), anti-aliased by supersampling."""
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            hits = 0
            for sy in range(samples):
                for sx in range(samples):
                    u = (px + (sx + 0.5) / samples) / size
                    v = (py + (sy + 0.5) / samples) / size
                    u = (u - pad) / (1 - 2 * pad)
                    v = (v - pad) / (1 - 2 * pad)
                    hits += 1 if 0 <= u <= 1 and 0 <= v <= 1 and bell(u, v) else 0
            a = hits / (samples * samples)
            if bg is None:
                row += bytes((fg[0], fg[1], fg[2], round(255 * a)))
            else:
                row += bytes(round(fg[i] * a + bg[i] * (1 - a)) for i in range(3)) + b'\xff'
        rows.append(bytes(row))
    return rows


def write_png(path, size, rows):
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b''.join(b'\x00' + r for r in rows)  # filter type 0 per row
    png = b'\x89PNG\r\n\x1a\n'
    png += chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 6, 0, 0, 0))  # 8-bit RGBA
    png += chunk(b'IDAT', zlib.compress(raw, 9))
    png += chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(png)


if __name__ == '__main__':
    write_png(os.path.join(HERE, 'color.png'), 192, render(192, (255, 255, 255), ACCENT, pad=0.16))
    write_png(os.path.join(HERE, 'outline.png'), 32, render(32, (255, 255, 255), None, pad=0.04))
    print('wrote color.png (192x192) and outline.png (32x32)')
