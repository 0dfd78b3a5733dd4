"""Finding dataset files under the data dir, checking them, and downloading them when allowed."""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from zoo.errors import DataError


@dataclass(frozen=True)
class Source:
    """One acceptable form of a dataset: a path under the data dir, its checksum and where it comes from."""

    path: str
    sha256: Optional[str] = None
    url: Optional[str] = None  # downloaded from here when missing (checksum required)


def text_lines(text: str) -> list[str]:
    """`text`'s lines, split at line feeds only (a carriage return before one is dropped). `str.splitlines()` also
    splits at U+0085, U+2028, form feeds and other characters that a line of real text holds (29 IMDB test
    reviews hold U+0085)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def learn_pieces(texts: list[str], size: int, pad: int, unknown: int, start: int = -1, end: int = -1) -> bytes:
    """A SentencePiece unigram model (Kudo 2018) of about `size` pieces learned on `texts` (a training split
    only), serialized; the special pieces at the ids given (-1: none). Single-threaded, so it is the same
    model every time."""
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=size, hard_vocab_limit=False,
        model_type="unigram", character_coverage=1.0, num_threads=1, pad_id=pad, bos_id=start, eos_id=end,
        unk_id=unknown, minloglevel=2)
    return model.getvalue()


def open_text(path: Path):
    """A UTF-8 text file for reading, gunzipped on the fly when its name ends in .gz."""
    return (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: Optional[str]) -> None:
    if expected and (actual := sha256(path)) != expected:
        raise DataError(
            f"{path} is corrupt or a different version: sha256 {actual}, expected {expected}; "
            "delete it and fetch it again"
        )


def download(url: str, dest: Path, expected: str, timeout: float = 30) -> None:
    """Fetch `url` into `dest` with its progress on stderr, checked before it takes its name: a failed or
    corrupt download leaves nothing behind (no `.part` file, no `dest`)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total, copied = int(response.headers.get("Content-Length") or 0), 0
            while block := response.read(1 << 20):
                out.write(block)
                copied += len(block)
                of = f" of {total / 1e6:.1f}" if total else ""
                print(f"\rdownloading {url}: {copied / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)
        if copied:
            print(file=sys.stderr)
        verify(partial, expected)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(dest)


def locate(data_dir: Path, sources: list[Source], where_to_get: str) -> tuple[Path, Source]:
    """The first source present under `data_dir` (checked), else the first downloadable one fetched there."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"data dir {data_dir.resolve()} is a file, not a folder; set paths.data_dir or $ZOO_DATA_DIR")
    if not data_dir.exists() and not any(source.url for source in sources):
        raise DataError(f"data dir {data_dir.resolve()} does not exist; set paths.data_dir or $ZOO_DATA_DIR "
                        f"({where_to_get})")
    for source in sources:
        path = data_dir / source.path
        if path.exists():
            if path.is_file():
                verify(path, source.sha256)
            return path, source
    download_errors = []
    for source in sources:
        if source.url:
            path = data_dir / source.path
            try:
                download(source.url, path, source.sha256)
                return path, source
            except OSError as e:  # no network, unwritable data dir
                download_errors.append(f"download from {source.url} failed ({e})")
            except DataError as e:  # a checksum that does not match
                download_errors.append(str(e))
    expected = " or ".join(s.path for s in sources)
    tried = "; ".join(download_errors) + "; " if download_errors else ""
    raise DataError(f"missing {expected} under {data_dir.resolve()}; {tried}{where_to_get}")


def find_file(data_dir: Path, name: str, setting: str, known: Optional[dict[str, list[Source]]] = None) -> Path:
    """The file a task.*_file setting names: absolute, under the data dir, or one of `known` (a name -> the
    forms it may take, some downloadable) found or fetched."""
    if name in (known or {}):
        return locate(data_dir, known[name], f"see docs/data.md for {name}")[0]
    path = Path(name) if Path(name).is_absolute() else Path(data_dir) / name
    if not path.is_file():
        raise DataError(f"{setting} {path} does not exist")
    return path


def read_table(path: Path, columns: list[str]):
    """The named columns of a CSV, TSV or JSON Lines file as strings, exactly as written (no NA guessing); every
    way it cannot be read as one line."""
    import pandas as pd

    kind = path.name.removesuffix(".gz").rsplit(".", 1)[-1].lower()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            if kind in ("jsonl", "json"):
                rows = [json.loads(line) for line in f if line.strip()]
                table = pd.DataFrame(rows, dtype=object)
                if rows and not all(isinstance(row, dict) for row in rows):
                    raise DataError(f"{path}: every line of a JSON Lines file must be an object")
            elif kind in ("csv", "tsv", "txt"):
                table = pd.read_csv(f, sep="," if kind == "csv" else "\t", dtype=str, keep_default_na=False,
                                    quoting=csv.QUOTE_MINIMAL if kind == "csv" else csv.QUOTE_NONE)
            else:
                raise DataError(f"{path}: not a .csv, .tsv, .txt (tab-separated) or .jsonl file")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not JSON Lines: {e}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{path} has rows with the wrong number of columns: {str(e).strip().splitlines()[-1]}") \
            from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is unreadable: {e}") from None
    if table.empty:
        raise DataError(f"{path} has no rows")
    if missing := [c for c in columns if c not in table.columns]:
        raise DataError(f"{path} has no column {missing[0]!r}; its columns: {', '.join(map(str, table.columns))}")
    return table[columns].astype(str).where(table[columns].notna(), "")
