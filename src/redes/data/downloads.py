"""Data files fetched from the internet: the folder they are cached in, mirrors tried in order, and an md5
checked before a file is kept, so that a file that fails it is never used."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path

from redes.errors import RedesError
from redes.progress import progress_bar


def data_root(root: str | None) -> Path:
    """data.root, else $REDES_DATA, else ~/.cache/redes: where data files are looked for and downloaded to."""
    return Path(root or os.environ.get("REDES_DATA") or "~/.cache/redes").expanduser()


def md5(path: Path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(urls: list[str], final: Path, expected_md5: str, what: str, hint: str) -> Path:
    """`final`, fetched from the first of `urls` whose file arrives whole with `expected_md5`, through a
    temporary file beside it that is renamed into place only then. `what` names the data in messages and `hint`
    says how to put the file there by hand; every mirror failing is one error naming each."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RedesError(f"cannot write to {final.parent} ({exc.strerror or exc}); {hint}") from None
    failures = []
    for url in urls:
        scratch = final.with_name(f".{final.name}.{os.getpid()}.part")
        try:
            got = _fetch(url, scratch, final.name)
            if got == expected_md5:
                os.replace(scratch, final)
                return final
            failures.append(f"{url} (md5 {got}, not the official {expected_md5}; nothing was kept)")
        except OSError as exc:  # URLError, HTTPError, timeouts and refused connections are all OSErrors
            failures.append(f"{url} ({getattr(exc, 'reason', None) or exc})")
        finally:
            scratch.unlink(missing_ok=True)
    raise RedesError(f"could not download {what} {final.name}: {'; '.join(failures)}; {hint}")


def _fetch(url: str, path: Path, name: str) -> str:
    """Download `url` into `path`, with a progress bar titled `name`; the md5 of what arrived."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
        size = int(response.headers.get("Content-Length") or 0) or None
        with progress_bar(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=name) as bar:
            if bar.disable:  # no bar where it goes: one line instead
                print(f"downloading {url}", file=sys.stderr, flush=True)
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()
