#!/usr/bin/env python3
"""Prints the SHA-256 of a (sparse) disk image's content, reading only its data extents.

usage: disk-digest.py FILE
Holes read as zeros, so the digest covers (offset, bytes) of every data extent with its zero
runs removed, plus the file size: two files with the same bytes have the same digest whatever
their allocation, and a lab disk of tens of GiB that holds little is read in seconds."""
import hashlib
import os
import sys

CHUNK = 1 << 20


def main():
    path = sys.argv[1]
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    h.update(b"size %d\n" % size)
    zero = bytes(CHUNK)
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: no data after pos
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        off = data
        while off < hole:
            buf = os.pread(fd, min(CHUNK, hole - off), off)
            if not buf:
                break
            # Blocks of zeros are holes by another name: leave them out, by 4 KiB block.
            if buf != zero[: len(buf)]:
                for b in range(0, len(buf), 4096):
                    blk = buf[b : b + 4096]
                    if blk.count(0) != len(blk):
                        h.update(b"%d " % (off + b))
                        h.update(blk)
            off += len(buf)
        pos = hole
    os.close(fd)
    print(h.hexdigest())


if __name__ == "__main__":
    main()
