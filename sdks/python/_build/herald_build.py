"""A PEP 517 build backend for the Herald SDK that needs only the standard library.

It builds a pure-Python wheel (the ``herald`` package, ``py.typed`` included), an
sdist, and an editable wheel (PEP 660, a ``.pth`` file naming this directory). The
project's metadata is read from ``pyproject.toml``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import sys
import tarfile
import time
import zipfile
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "herald"


def _project() -> Dict[str, Any]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    if sys.version_info >= (3, 11):
        import tomllib

        return dict(tomllib.loads(raw.decode("utf-8"))["project"])
    return _parse_project(raw.decode("utf-8"))


def _parse_project(text: str) -> Dict[str, Any]:
    """Reads the [project] table's strings and string lists (enough for this file) on
    Pythons without tomllib."""
    out: Dict[str, Any] = {}
    table = None
    lines = iter(text.splitlines())
    for line in lines:
        s = line.split("#", 1)[0].strip() if not line.strip().startswith('"') else line.strip()
        if not s:
            continue
        m = re.match(r"^\[([^\]]+)\]$", s)
        if m:
            table = m.group(1).strip()
            continue
        if table != "project":
            continue
        m = re.match(r'^([A-Za-z0-9_-]+)\s*=\s*(.*)$', s)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip()
        if value.startswith("["):
            buf = value
            while "]" not in buf:
                buf += next(lines)
            out[key] = re.findall(r'"([^"]*)"', buf)
        elif value.startswith('"'):
            out[key] = value.strip('"')
    return out


def _dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata(project: Dict[str, Any]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % project["name"],
        "Version: %s" % project["version"],
    ]
    if project.get("description"):
        lines.append("Summary: %s" % project["description"])
    if project.get("requires-python"):
        lines.append("Requires-Python: %s" % project["requires-python"])
    for c in project.get("classifiers") or []:
        lines.append("Classifier: %s" % c)
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
            body = f.read()
        lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + body


def _wheel_file() -> str:
    return "Wheel-Version: 1.0\nGenerator: herald_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _package_files() -> List[Tuple[str, str]]:
    """(path in the wheel, path on disk) of the package's files."""
    files = []
    base = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".typed", ".pyi")):
                full = os.path.join(dirpath, name)
                files.append((os.path.relpath(full, ROOT).replace(os.sep, "/"), full))
    return files


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _write_wheel(directory: str, extra: Optional[List[Tuple[str, bytes]]] = None, editable: bool = False) -> str:
    project = _project()
    dist = _dist_name(project["name"])
    version = project["version"]
    info = "%s-%s.dist-info" % (dist, version)
    filename = "%s-%s-py3-none-any.whl" % (dist, version)
    entries: List[Tuple[str, bytes]] = []
    if editable:
        entries.append(("%s.pth" % dist, (ROOT + "\n").encode()))
    else:
        for arcname, full in _package_files():
            with open(full, "rb") as f:
                entries.append((arcname, f.read()))
    entries += extra or []
    entries.append(("%s/METADATA" % info, _metadata(project).encode("utf-8")))
    entries.append(("%s/WHEEL" % info, _wheel_file().encode()))
    entries.append(("%s/top_level.txt" % info, (PACKAGE + "\n").encode()))
    record = [_record_line(a, d) for a, d in entries] + ["%s/RECORD,," % info]
    entries.append(("%s/RECORD" % info, ("\n".join(record) + "\n").encode()))
    path = os.path.join(directory, filename)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in entries:
            zi = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return filename


# -- PEP 517 hooks -------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Any = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Any = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Any = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Any = None) -> str:
    project = _project()
    info = "%s-%s.dist-info" % (_dist_name(project["name"]), project["version"])
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(project))
    with open(os.path.join(metadata_directory, info, "WHEEL"), "w") as f:
        f.write(_wheel_file())
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Any = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory)


def build_editable(wheel_directory: str, config_settings: Any = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, editable=True)


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    project = _project()
    base = "%s-%s" % (_dist_name(project["name"]), project["version"])
    filename = base + ".tar.gz"
    files = [rel for rel, _ in _package_files()] + ["pyproject.toml", "README.md", "_build/herald_build.py"]
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            tar.add(os.path.join(ROOT, rel), arcname=base + "/" + rel, recursive=False)
        pkg_info = _metadata(project).encode("utf-8")
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        ti.mtime = int(time.time())
        tar.addfile(ti, io.BytesIO(pkg_info))
    return filename
