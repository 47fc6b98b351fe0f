"""A headless browser for looking at ``report.html`` as a reader does: a screenshot and the parsed DOM.

Uses an OS browser (Debian/Ubuntu: ``apt-get install chromium``, or
``firefox-esr``); nothing is downloaded. ``find_browser`` returns ``None``
when there is none, and tests that need one skip with that reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FIREFOXES = ("firefox", "firefox-esr")
NO_BROWSER = (
    "no headless browser found (looked for chromium, chromium-browser, google-chrome, firefox, firefox-esr on PATH); "
    "install one from the OS packages, e.g. `apt-get install chromium`"
)


def find_browser() -> tuple[str, str] | None:
    """``("chromium" | "firefox", executable)`` of the first browser on ``PATH``, or ``None``."""
    for name in CHROMIUMS:
        if path := shutil.which(name):
            return "chromium", path
    for name in FIREFOXES:
        if path := shutil.which(name):
            return "firefox", path
    return None


def _chromium_flags(exe: str) -> list[str]:
    # --no-sandbox: the sandbox refuses to start as root (containers, CI); the page is our own file.
    return [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 4000, timeout: float = 120.0) -> Path:
    """Render ``page`` in the headless browser and save a PNG of its top ``width × height`` pixels.

    Raises:
        RuntimeError: Without a browser, or when it writes no screenshot.
    """
    found = find_browser()
    if found is None:
        raise RuntimeError(NO_BROWSER)
    kind, exe = found
    url = Path(page).resolve().as_uri()
    out = Path(out).resolve()
    if kind == "chromium":
        cmd = [*_chromium_flags(exe), f"--window-size={width},{height}", f"--screenshot={out}", url]
    else:
        cmd = [exe, "--headless", "--window-size", f"{width},{height}", "--screenshot", str(out), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not out.exists():
        raise RuntimeError(f"{exe} wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return out


def rendered_dom(page: Path, timeout: float = 120.0) -> str | None:
    """The DOM after the browser parsed ``page`` (Chromium's ``--dump-dom``); ``None`` with Firefox or no browser."""
    found = find_browser()
    if found is None or found[0] != "chromium":
        return None
    cmd = [*_chromium_flags(found[1]), "--dump-dom", Path(page).resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
