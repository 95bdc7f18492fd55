"""The state store's engine: RocksDB (rocksdict) vs LMDB (lmdb), N small records (a 64-hex key and a state
value of ~12 bytes), written in WriteBatches / transactions of 50,000 with a checkpoint key each (as a restore
writes), then every key read back once.

    .venv/bin/python -m bench.kvstores --records 1000000   (lmdb comes with requirements-bench.lock)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

BATCH = 50_000
VALUE = b"FINALIZED 0"


def rocks(path: Path, keys: list[bytes]) -> tuple[float, float]:
    import rocksdict

    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    db = rocksdict.Rdict(str(path), options)
    started = time.perf_counter()
    for start in range(0, len(keys), BATCH):
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key in keys[start : start + BATCH]:
            batch.put(key, VALUE)
        batch.put(b"\x00checkpoint", str(start).encode())
        db.write(batch)
    written = time.perf_counter() - started
    started = time.perf_counter()
    for key in keys:
        db.get(key)
    read = time.perf_counter() - started
    db.close()
    return written, read


def lmdb_(path: Path, keys: list[bytes]) -> tuple[float, float]:
    import lmdb

    env = lmdb.open(str(path), map_size=2**32)
    started = time.perf_counter()
    for start in range(0, len(keys), BATCH):
        with env.begin(write=True) as txn:
            for key in keys[start : start + BATCH]:
                txn.put(key, VALUE)
            txn.put(b"\x00checkpoint", str(start).encode())
    written = time.perf_counter() - started
    started = time.perf_counter()
    with env.begin() as txn:
        for key in keys:
            txn.get(key)
    read = time.perf_counter() - started
    env.close()
    return written, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    keys = [f"{i:064x}".encode() for i in range(args.records)]
    for name, run in (("rocksdict", rocks), ("lmdb", lmdb_)):
        where = Path(tempfile.mkdtemp(prefix=f"bench-kv-{name}-"))
        try:
            written, read = run(where / "db", keys)
        finally:
            shutil.rmtree(where, ignore_errors=True)
        n = args.records
        rates = f"write {n / written:,.0f} records/s ({written:.2f} s), read {n / read:,.0f}/s ({read:.2f} s)"
        print(f"{name}: {rates}")


if __name__ == "__main__":
    main()
