"""The package itself: typed (annotations complete and resolvable, py.typed shipped),
standard library only, Python 3.9 syntax, and installable offline with pip.

No type checker can be installed on a machine without a package index, so the
annotations are checked here with typing.get_type_hints: every public function and
method has a return annotation and one for each parameter, and each resolves."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import subprocess
import sys
import sysconfig
import tempfile
import typing
import unittest
from pathlib import Path

from support import SDK_DIR

import herald

PACKAGE_DIR = SDK_DIR / "herald"


def public_callables():
    for name in herald.__all__:
        obj = getattr(herald, name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if isinstance(value, property):
                    if value.fget is not None:
                        yield "%s.%s" % (name, attr), value.fget
                elif isinstance(value, (staticmethod, classmethod)):
                    yield "%s.%s" % (name, attr), value.__func__
                elif inspect.isfunction(value):
                    yield "%s.%s" % (name, attr), value
        elif inspect.isfunction(obj):
            yield name, obj


class TypingTest(unittest.TestCase):
    def test_public_api_is_fully_annotated(self) -> None:
        checked = 0
        for qualname, fn in public_callables():
            with self.subTest(qualname):
                hints = typing.get_type_hints(fn)  # fails on an annotation that does not resolve
                sig = inspect.signature(fn)
                for p in sig.parameters.values():
                    if p.name in ("self", "cls"):
                        continue
                    self.assertIn(p.name, hints, "%s: parameter %s has no annotation" % (qualname, p.name))
                if fn.__name__ != "__init__":
                    self.assertIn("return", hints, "%s has no return annotation" % qualname)
                checked += 1
        self.assertGreater(checked, 60)

    def test_models_and_typed_dicts_resolve(self) -> None:
        for cls in (herald.PushResult, herald.Event, herald.Run, herald.RunSummary, herald.StepRun,
                    herald.TriggerDecision, herald.RunRef, herald.WorkflowInfo, herald.BulkEvent, herald.StepSpec):
            with self.subTest(cls.__name__):
                hints = typing.get_type_hints(cls)
                self.assertTrue(hints)
        self.assertEqual(typing.get_type_hints(herald.EventClient.push)["return"], herald.PushResult)
        self.assertEqual(typing.get_type_hints(herald.RunsClient.get)["return"], herald.Run)
        self.assertEqual(herald.BulkEvent.__required_keys__, frozenset({"key"}))

    def test_py_typed_marker(self) -> None:
        self.assertTrue((PACKAGE_DIR / "py.typed").is_file())


class PackageTest(unittest.TestCase):
    def modules(self):
        return sorted(PACKAGE_DIR.glob("*.py"))

    def test_standard_library_only(self) -> None:
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        for path in self.modules():
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top == "__future__":
                        continue
                    spec = importlib.util.find_spec(top)
                    self.assertIsNotNone(spec, "%s imports %s" % (path.name, name))
                    origin = spec.origin or ""  # type: ignore[union-attr]
                    in_stdlib = origin in ("built-in", "frozen") or (
                        os.path.realpath(origin).startswith(stdlib) and "site-packages" not in origin
                    )
                    self.assertTrue(in_stdlib, "%s imports %s, which is not in the standard library (%s)" % (path.name, name, origin))

    def test_python_3_9_syntax(self) -> None:
        for path in list(self.modules()) + sorted((SDK_DIR / "examples").glob("*.py")) + [SDK_DIR / "_build" / "herald_build.py"]:
            with self.subTest(path.name):
                ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 9))
        text = (SDK_DIR / "pyproject.toml").read_text()
        self.assertIn('requires-python = ">=3.9"', text)
        self.assertIn("__version__ = \"%s\"" % herald.__version__, (PACKAGE_DIR / "__init__.py").read_text())
        self.assertIn('version = "%s"' % herald.__version__, text)

    def test_pip_installs_it_offline(self) -> None:
        with tempfile.TemporaryDirectory() as target:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
                 "--disable-pip-version-check", "--target", target, str(SDK_DIR)],
                capture_output=True, text=True, timeout=300,
            )
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            check = subprocess.run(
                [sys.executable, "-c",
                 "import herald, os; print(herald.__file__); "
                 "print(os.path.exists(os.path.join(os.path.dirname(herald.__file__), 'py.typed'))); "
                 "print(herald.__version__)"],
                cwd=target, env=dict(os.environ, PYTHONPATH=target), capture_output=True, text=True, timeout=60,
            )
            self.assertEqual(check.returncode, 0, check.stderr)
            file, typed, version = check.stdout.split()
            self.assertTrue(file.startswith(os.path.realpath(target)) or file.startswith(target), file)
            self.assertEqual((typed, version), ("True", herald.__version__))
            dist = [p.name for p in Path(target).iterdir() if p.name.endswith(".dist-info")]
            self.assertEqual(dist, ["herald_sdk-%s.dist-info" % herald.__version__])


if __name__ == "__main__":
    unittest.main()
