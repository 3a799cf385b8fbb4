"""A virtual X display (Xvfb) for the window tests, the screenshots and the GUI benchmark.

Xvfb picks a free display number itself (-displayfd), so parallel runs never collide.
DISPLAY is set only in the environment handed to child processes, never in this process.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from contextlib import contextmanager
from typing import Iterator

from strike_pose.errors import StrikePoseError


def xvfb_missing() -> str | None:
    """Why a virtual display cannot run here, or None."""
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (apt-get install xvfb)"
    return None


@contextmanager
def virtual_display(width: int = 1600, height: int = 1000, timeout: float = 20.0) -> Iterator[str]:
    """Start Xvfb on a free display; yields its name (':N'); stops it on exit."""
    why = xvfb_missing()
    if why:
        raise StrikePoseError(why)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp",
         "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], timeout)
            chunk = os.read(read_end, 16) if ready else b""
            if not chunk:
                raise StrikePoseError(f"Xvfb did not start within {timeout:g} s")
            number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_end)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def display_environment(display: str) -> dict[str, str]:
    """This process's environment for a child that opens windows on `display`."""
    env = dict(os.environ)
    env["DISPLAY"] = display
    env.pop("PYOPENGL_PLATFORM", None)  # must not be egl when a window runs on an X display
    env.pop("WAYLAND_DISPLAY", None)
    return env
