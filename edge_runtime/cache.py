"""The runtime's private cache folder, and file hashes remembered there so an unchanged
model file is not hashed again by every process."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

# A file changed again within its timestamps' granularity (2 s on FAT) could keep the same
# times, so a hash is remembered only for a file left untouched for at least this long.
SETTLED_NS = 2_000_000_000
HEX_DIGITS = "0123456789abcdef"


def cache_dir() -> Path | None:
    """Where the runtime keeps what it can rebuild: optimised graphs and file hashes
    (EDGE_ORT_CACHE, else ~/.cache/edge_runtime/ort; "off" keeps none)."""
    setting = os.environ.get("EDGE_ORT_CACHE", "")
    if setting.lower() in ("off", "0", "none"):
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "edge_runtime" / "ort"


def private_folder(folder: Path) -> bool:
    """Create `folder` (mode 0700) if needed; True if it is this user's own and no one
    else can write to it, so what is read from it is what this user wrote."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return owner_ok and not info.st_mode & 0o022 and os.access(folder, os.W_OK | os.X_OK)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity(info: os.stat_result) -> str:
    """What changes whenever a file's content can have changed: any write or replacement
    moves its ctime, which, unlike its mtime, cannot be set back."""
    return f"{info.st_dev} {info.st_ino} {info.st_size} {info.st_mtime_ns} {info.st_ctime_ns}"


def remembered_sha256(path: Path, recheck: bool = False) -> str:
    """Hex sha256 of a file, hashed once and remembered in the cache folder by the file's
    identity (device, inode, size, times); hashed again whenever any of them changes, when
    `recheck` is asked for (the record is then replaced), and every time where no private
    cache folder can be kept, or off POSIX (Windows' ctime is the creation time, which a
    rewrite does not move)."""
    folder = cache_dir()
    if os.name != "posix" or folder is None:
        return sha256_of(path)
    records = folder / "sha256"
    if not (private_folder(folder) and private_folder(records)):  # made 0700, in this order
        return sha256_of(path)
    record = records / hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32]
    before = _identity(path.stat())
    remembered = None if recheck else _read_record(record, before)
    if remembered:
        return remembered
    digest = sha256_of(path)
    after = path.stat()  # unchanged while it was read, and left alone long enough
    settled = time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) >= SETTLED_NS
    if settled and _identity(after) == before:
        _write_record(record, f"{before} {digest}\n")
    return digest


def _read_record(record: Path, identity: str) -> str | None:
    """The digest a record holds for a file of this identity; None for another identity,
    no record or a damaged one."""
    try:
        if not record.is_file():
            return None
        remembered, digest = record.read_text().rsplit(" ", 1)
    except (OSError, ValueError):
        return None
    digest = digest.strip()
    ok = remembered == identity and len(digest) == 64 and set(digest) <= set(HEX_DIGITS)
    return digest if ok else None


def _write_record(record: Path, text: str) -> None:
    """Replace `record` atomically; a record that cannot be written is simply not kept."""
    partial = record.with_name(f"{record.name}.{os.getpid()}-{threading.get_ident()}.partial")
    try:
        partial.write_text(text)
        os.replace(partial, record)
    except OSError:
        pass
    finally:
        partial.unlink(missing_ok=True)
