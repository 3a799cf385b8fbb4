"""Where an experiment's rows live: one Parquet file per finished work item, under OUT/rows/STUDY/.

A file is written under a temporary name and published in one step (strike_pose.export's writer, which
never replaces a file), so a killed run leaves whole files only; `--resume` skips every item whose file
exists, so nothing is computed twice and nothing is lost or duplicated. A study's table is all its
files read in the order of their names.
"""

from __future__ import annotations

import json
from pathlib import Path

from strike_pose.errors import StrikePoseError
from strike_pose.export import atomic_write

MANIFEST = "experiment.json"


class ResultStore:
    def __init__(self, out_dir: str | Path):
        self.root = Path(out_dir)
        self.rows_dir = self.root / "rows"

    def prepare(self, experiment, resume: bool) -> None:
        """Make the folder; refuse to mix two experiments, or to run into old results without --resume."""
        manifest = self.root / MANIFEST
        if self.root.exists() and not self.root.is_dir():
            raise StrikePoseError(f"{self.root} is a file; give a folder for the results")
        if manifest.is_file():
            previous = json.loads(manifest.read_text())
            if not resume:
                raise StrikePoseError(f"{self.root} already holds the results of experiment {previous.get('name')!r}; "
                                      "add --resume to finish it, or give another --out folder")
            if previous.get("sha256") != experiment.sha256:
                raise StrikePoseError(f"{experiment.path} changed since {self.root} was started; resuming would mix "
                                      "two experiments: give another --out folder (or restore the file)")
        elif self.root.is_dir() and any(self.root.iterdir()):
            raise StrikePoseError(f"{self.root} is not empty and holds no experiment; give a new or empty --out folder")
        try:
            self.rows_dir.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StrikePoseError(f"cannot write into {self.root} ({exc.strerror}); "
                                  "give a folder you can write to") from None
        if not manifest.is_file():
            text = json.dumps({"name": experiment.name, "path": experiment.path, "sha256": experiment.sha256},
                              indent=2)
            atomic_write(manifest, lambda handle: handle.write(text.encode()))

    def path(self, item) -> Path:
        if Path(item.key).name != item.key or item.key.startswith("."):  # a key is one file name in the study's folder
            raise ValueError(f"work item key {item.key!r} is not a plain file name")
        return self.rows_dir / item.study / f"{item.key}.parquet"

    def done(self, item) -> bool:
        return self.path(item).is_file()

    def write(self, item, rows: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path(item)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(rows) if rows else pa.table({"item": pa.array([], pa.string())})

        def write(handle):
            pq.write_table(table, handle)

        atomic_write(path, write)

    def rows(self, study: str) -> list[dict]:
        """Every row of a study, in the order of its item files."""
        import pyarrow.parquet as pq

        folder = self.rows_dir / study
        out: list[dict] = []
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            out += pq.read_table(path).to_pylist()
        return [r for r in out if len(r) > 1]

    def table(self, study: str):
        """The study's rows as one pyarrow Table (for users: `.to_pandas()`, DuckDB, ...)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self.rows_dir / study
        tables = [pq.read_table(p) for p in sorted(folder.glob("*.parquet"))] if folder.is_dir() else []
        tables = [t for t in tables if t.num_columns > 1]
        return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})

