"""Read a wandb offline run back (`run-<id>.wandb` records and `files/media/table/*.table.json`), for tests.

wandb 0.31 ships no Python reader: the file is a 7-byte header (`:W&B`, magic 0xBEE1, version 0) followed by
LevelDB-log framing (32 KiB blocks; records of crc32(type + data), length, type) around protobuf `Record`s.
"""

import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto.wandb_internal_pb2 import Record

FILE_HEADER = struct.Struct("<4sHB")
CHUNK_HEADER = struct.Struct("<IHB")
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Record]:
    """Every protobuf Record in a `.wandb` file, in order; ValueError on a bad header, checksum or chunk order."""
    data = Path(path).read_bytes()
    if FILE_HEADER.unpack_from(data) != (b":W&B", 0xBEE1, 0):
        raise ValueError(f"{path}: not a wandb 0.x record file")
    pos, parts = FILE_HEADER.size, None
    while pos + CHUNK_HEADER.size <= len(data):
        # A block tail too short for a chunk header is zero padding (block offsets count the file header).
        if BLOCK - pos % BLOCK < CHUNK_HEADER.size:
            pos += BLOCK - pos % BLOCK
            continue
        crc, length, kind = CHUNK_HEADER.unpack_from(data, pos)
        payload = data[pos + CHUNK_HEADER.size : pos + CHUNK_HEADER.size + length]
        if len(payload) < length:
            break  # the writer is still appending this chunk
        if zlib.crc32(bytes((kind,)) + payload) != crc:
            raise ValueError(f"{path}: bad checksum at byte {pos}")
        pos += CHUNK_HEADER.size + length
        if kind == FULL and parts is None:
            yield _parse(payload)
        elif kind == FIRST and parts is None:
            parts = [payload]
        elif kind in (MIDDLE, LAST) and parts is not None:
            parts.append(payload)
            if kind == LAST:
                yield _parse(b"".join(parts))
                parts = None
        else:
            raise ValueError(f"{path}: chunk of type {kind} out of order at byte {pos}")


def read_offline_run(run_dir: Path, timeout_s: float = 30.0) -> dict[str, Any]:
    """`{"run", "config", "summary", "history", "tables"}` of a finished offline run directory (`offline-run-*`).

    Tables are keyed by the name they were logged under, each `{"columns": [...], "data": [[...]]}`.
    """
    run_dir = Path(run_dir)
    (path,) = run_dir.glob("run-*.wandb")
    out: dict[str, Any] = {"run": {}, "config": {}, "summary": {}, "history": [], "tables": {}}
    for record in _finished(path, timeout_s):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out["run"] = {"id": run.run_id, "name": run.display_name, "group": run.run_group, "job_type": run.job_type}
            _apply(out["config"], run.config.update)
        elif kind == "config":
            _apply(out["config"], record.config.update)
            _remove(out["config"], record.config.remove)
        elif kind == "summary":
            _apply(out["summary"], record.summary.update)
            _remove(out["summary"], record.summary.remove)
        elif kind == "history":
            out["history"].append(_apply({}, record.history.item))
    for key, value in out["summary"].items():
        if isinstance(value, dict) and value.get("_type") == "table-file":
            out["tables"][key] = json.loads((run_dir / "files" / value["path"]).read_text())
    return out


def _finished(path: Path, timeout_s: float) -> list[Record]:
    # wandb-core writes the file in the background: `run.finish()` can return while it holds only the
    # header, so wait for the run's last record (`exit`).
    deadline = time.monotonic() + timeout_s
    while True:
        found = list(records(path))
        if any(record.WhichOneof("record_type") == "exit" for record in found):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: no exit record after {timeout_s} s; is the run finished?")
        time.sleep(0.05)


def _parse(payload: bytes) -> Record:
    record = Record()
    record.ParseFromString(payload)
    return record


def _keys(item: Any) -> list[str]:
    return list(item.nested_key) or [item.key]


def _apply(target: dict[str, Any], items: Any) -> dict[str, Any]:
    for item in items:
        *parents, last = _keys(item)
        node = target
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = json.loads(item.value_json)
    return target


def _remove(target: dict[str, Any], items: Any) -> None:
    for item in items:
        *parents, last = _keys(item)
        node = target
        for key in parents:
            node = node.get(key, {})
        node.pop(last, None)


def run_job_type(run_dir: Path, timeout_s: float = 30.0) -> str:
    """The job type of an offline run, from its `run` record (the run need not have finished: wandb-core writes
    in the background, and a run whose process failed may still be closing when a test looks)."""
    (path,) = Path(run_dir).glob("run-*.wandb")
    deadline = time.monotonic() + timeout_s
    while True:
        found = [r.run.job_type for r in records(path) if r.WhichOneof("record_type") == "run"]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: no run record after {timeout_s} s")
        time.sleep(0.05)
