#!/usr/bin/env python3
"""Writes tests/fuzz/corpus_node/: fuzz_node programs, one per behaviour.

Files named itemNN-* reproduce issue-8 item NN (tests/README.md lists
which invariant each trips while the item is unfixed); the others are
plain seeds that must always pass. Ops and argument bytes mirror
run_step() in fuzz_node.c; a program reads 0 past its end.

    python3 tests/fuzz/mkcorpus.py    # rewrites the directory
"""
import os
import struct

OPS = """advance virt_up virt_down link online add remove fetch request restart
crash crash_after store_fault digest hello query qreply get meta data error
cancel drain serve bulk fetch_all variant_flood query_flood lie loss quiesce
mutate""".split()
OP = {n: i for i, n in enumerate(OPS)}

THUMB, OCR, PROXY = 0, 4, 2
# read_key's second byte: kind + 7 * variant index
V_GRID, V_W256, V_1080, V_FR = 0, 1, 2, 3
# read_size's table
S0, S1, S3000, SCH_1, SCH, SCH1, S600K, SMAX, SWRAP, S2_45, S2_33, S2_30, S20K = range(13)


def key(i, kind=THUMB, var=V_GRID):
    return bytes([i, kind + 7 * var])


def size_u32(n):
    return bytes([100]) + struct.pack("<I", n)


class P:
    def __init__(self, nodes=2, lib=0, seed=1):
        self.b = bytearray([nodes - 2, lib]) + struct.pack("<H", seed)

    def op(self, name, *args):
        self.b.append(OP[name])
        for a in args:
            self.b += a if isinstance(a, (bytes, bytearray)) else bytes([a])
        return self

    def digest(self, y, v, entries, flags=7, epoch=0, frm=0, to=None):
        """entries: (key bytes, has, size bytes, checksum selector)"""
        to = len(entries) if to is None else to
        self.op("digest", y, v, flags, len(entries), epoch, frm, to)
        for k, has, size, cs in entries:
            self.b += k + bytes([has])
            if has:
                self.b += size + bytes([cs])
        return self

    def adv(self, ms_units, exp=0):
        return self.op("advance", ms_units, exp)


def corpus():
    out = {}
    # ---- seeds that must pass -----------------------------------------
    out["seed-fetch-between-nodes"] = (
        P(3, 0b010101).op("fetch", 1, key(100), 1).adv(200, 3)
        .op("fetch", 2, key(108, OCR, V_W256), 1).adv(200, 3)
        .op("quiesce").b)
    out["seed-virtual-honest-source"] = (
        P(2).op("virt_up", 0, 0)
        .digest(0, 0, [(key(60, PROXY, V_1080), 1, bytes([S600K]), 0)])
        .op("fetch", 0, key(60, PROXY, V_1080), 1)
        .op("serve", 0, 0, 3 * 20 + 0).adv(100, 2).b)
    out["seed-virtual-liar"] = (
        P(2).op("virt_up", 0, 0).op("virt_up", 0, 1)
        .digest(0, 0, [(key(61), 1, bytes([S3000]), 0)])
        .digest(0, 1, [(key(61), 1, bytes([S3000]), 0)])
        .op("fetch", 0, key(61), 1)
        .op("serve", 0, 0, 3 * 5 + 1).op("serve", 0, 1, 3 * 5 + 0)
        .adv(100, 3).b)
    out["seed-restart-and-crash"] = (
        P(3, 0b111111).op("restart", 1).adv(100, 2)
        .op("crash", 2).adv(100, 2).op("fetch", 2, key(100), 1)
        .adv(100, 3).op("quiesce").b)
    out["seed-crash-between-blob-and-row"] = (
        # node 1 fetches node 0's thumb and dies at its next store call:
        # the blob commit has landed, the row's transaction has not.
        P(2, 0b0101).op("crash_after", 1, 0).op("fetch", 1, key(100), 1)
        .adv(200, 3).op("fetch", 1, key(100), 1).adv(200, 3)
        .op("quiesce").b)
    out["seed-removal-and-add"] = (
        P(3, 0b111111).op("remove", 0, key(100)).adv(100, 2)
        .op("add", 1, key(70, OCR, V_FR), bytes([S20K]))
        .op("remove", 1, key(99)).adv(50, 4).op("quiesce").b)
    out["seed-mutated-frames"] = (
        P(2).op("virt_up", 0, 3)
        .digest(0, 3, [(key(62), 1, bytes([S3000]), 0)])
        .op("mutate", 3, 9, 0, 0x40, 30, 0, 1, 50, 0, 0x80)
        .op("virt_up", 0, 3).op("hello", 0, 3, 0, 5, 0, 0, 0)
        .op("mutate", 1, 6, 0, 0xff).adv(20, 2).b)
    out["seed-loss-and-flaps"] = (
        P(4, 0xff).op("loss", 0, 1, 3).op("link", 2, 3, 0)
        .op("fetch", 1, key(100), 1).adv(100, 3).op("link", 2, 3, 1)
        .op("online", 3, 0).adv(100, 3).op("online", 3, 1)
        .op("lie", 0, 4).op("fetch", 2, key(99), 1).adv(100, 4)
        .op("quiesce").b)

    # ---- reproducers of issue-8 section 2 ------------------------------
    # 1: a zero-size digest entry with a made-up checksum becomes READY.
    out["item01-zero-size-entry"] = (
        P(2).op("virt_up", 0, 0)
        .digest(0, 0, [(key(50), 1, bytes([S0]), 1)])
        .op("fetch", 0, key(50), 1).adv(10).b)
    # 1: size UINT64_MAX: vss_chunk_count wraps to 0 chunks.
    out["item01-size-uint64-max"] = (
        P(2).op("virt_up", 0, 0)
        .digest(0, 0, [(key(51), 1, bytes([SMAX]), 1)])
        .op("fetch", 0, key(51), 1).adv(10).b)
    # 3: 40 holders, the first 32 of them offline: NO_SOURCE.
    p = P(2)
    for v in range(40):
        p.op("virt_up", 0, v).digest(
            0, v, [(key(52, PROXY, V_1080), 1, bytes([S3000]), 0)])
    for v in range(32):  # the 32 the cache lists first go offline
        p.op("virt_down", 0, v)
    p.op("fetch", 0, key(52, PROXY, V_1080), 1)
    out["item03-40-holders-first-32-offline"] = p.b
    # 4: a source with 1,100 jobs goes down: 76 of them hang.
    out["item04-1100-jobs-source-down"] = (
        P(2).op("virt_up", 0, 0).op("bulk", 0, 0, struct.pack("<H", 1099))
        .op("fetch_all", 0, 1).op("drain", 0, 0).op("virt_down", 0, 0)
        .adv(10).b)
    # 5: DATA flooding while META is never answered.
    out["item05-meta-never-answered"] = (
        P(2).op("virt_up", 0, 0)
        .digest(0, 0, [(key(53, PROXY, V_1080), 1, size_u32(60 << 20), 1)])
        .op("fetch", 0, key(53, PROXY, V_1080), 1)
        .op("serve", 0, 0, 3 * 63 + 2).b)
    # 6: one peer fills the variant intern table; an honest peer's
    # digest with a new variant is refused.
    out["item06-variant-flood"] = (
        P(2).op("virt_up", 0, 0).op("variant_flood", 0, 0, 16, 1)
        .op("add", 1, key(54, THUMB, V_FR), bytes([S3000]))
        .adv(100, 3).b)
    # 7: a peer sends queries and never reads the answers.
    out["item07-queries-without-reading"] = (
        P(2).op("virt_up", 0, 0).op("query_flood", 0, 0, 40).b)
    # 8: a claimed size of 2^45 sizes the chunk table (2 GiB).
    out["item08-huge-claimed-size"] = (
        P(2).op("virt_up", 0, 0)
        .digest(0, 0, [(key(55, PROXY, V_1080), 1, bytes([S2_45]), 1)])
        .op("fetch", 0, key(55, PROXY, V_1080), 1).b)
    # 8: a claimed 1 GiB sizes the temp blob before any byte arrives.
    out["item08-claimed-1gib-temp-blob"] = (
        P(2).op("virt_up", 0, 0)
        .digest(0, 0, [(key(56, PROXY, V_1080), 1, bytes([S2_30]), 1)])
        .op("fetch", 0, key(56, PROXY, V_1080), 1).b)
    # 14: add_local overwrites the committed blob before the row: a
    # failing row write leaves the old row over new bytes.
    out["item14-add-local-blob-before-row"] = (
        P(2, 0b0101).op("store_fault", 0, 0)
        .op("add", 0, key(100), bytes([S20K])).b)
    return out


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_node")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for name, data in sorted(corpus().items()):
        with open(os.path.join(d, name), "wb") as fp:
            fp.write(bytes(data))
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
