#!/usr/bin/env bash
# The package as users get it: build the sdist and wheel, check them, install the wheel into a
# fresh virtualenv with no source checkout on the path, and run the demo and every module.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
python -m twine check --strict "$work"/dist/*

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/*.whl

# Run from an empty folder so that nothing of this checkout can be imported by accident.
mkdir "$work/elsewhere"
cd "$work/elsewhere"
"$work/venv/bin/python" - <<'PY'
import importlib
import pkgutil
from pathlib import Path

import anyint_async

location = Path(anyint_async.__file__).resolve()
assert "site-packages" in location.parts, f"imported from {location}, not the installed wheel"
modules = [
    info.name
    for info in pkgutil.walk_packages(anyint_async.__path__, "anyint_async.")
    if info.name != "anyint_async.__main__"
]
# Modules that need an optional extra, and the package it brings: without it, they alone may
# fail to import, and only for want of that package.
OPTIONAL = {"anyint_async.coordination.link": "redis"}
for name in modules:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if OPTIONAL.get(name) != (error.name or "").split(".")[0]:
            raise
assert (location.parent / "py.typed").exists(), "the wheel carries py.typed"
print(f"wheel: anyint_async {anyint_async.__version__}, {len(modules)} modules import")
PY
COLUMNS=200 "$work/venv/bin/anyint" demo --count 20 --out "$work/demo" > "$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
grep -q "API key seen by the file host: 0" "$work/demo.log" || { cat "$work/demo.log"; exit 1; }
echo "wheel: anyint demo --count 20 ran from the installed wheel"
# With the redis extra's package, the coordination link imports too.
"$work/venv/bin/python" -m pip install --quiet "redis>=5.0.1"
"$work/venv/bin/python" -c "import anyint_async.coordination.link"
echo "wheel: the coordination link imports with the redis extra"
