"""Generating the Python modules of `protos/*.proto` with grpc_tools.protoc.

The generated modules are build output: never committed, never edited. Two paths produce them,
and both run `generate` here:

- the build: `make` (its install step) runs `python -m tidings.api.grpc.codegen`;
- a plain `pip install -e .` (or any install that skipped it): `tidings.api.grpc.stubs`, the one
  module the rest of the code imports them through, calls `ensure_current()` first, which
  generates them into `generated/` beside this file when they are missing or were made from
  another version of the .proto or of grpcio-tools (a digest of both is kept in
  `generated/SOURCE`). The check costs one small file read per process.

Generation writes into a temporary directory and renames it into place, so a process never sees
half-written modules and two processes generating at once both end with a complete copy.

protoc names the import of a sibling message module after the .proto's path
(`from tracker.event.v1alpha1 import event_pb2`), which is not importable from inside our
package; that one line of each `*_pb2_grpc.py` is rewritten to a relative import
(`from . import event_pb2`). Keeping the .proto at its own path keeps its descriptor's file name
`tracker/event/v1alpha1/event.proto`, as clients that compile the same file expect.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_ROOT = PACKAGE_DIR / "protos"
OUT = PACKAGE_DIR / "generated"
STAMP_NAME = "SOURCE"
PROTOS: tuple[str, ...] = ("tracker/event/v1alpha1/event.proto",)
_SIBLING_IMPORT = re.compile(r"^from ((?:\w+\.)*\w+) import (\w+_pb2) as ", re.MULTILINE)


class CodegenError(RuntimeError):
    """protoc failed, or the package directory cannot be written."""


def source_digest() -> str:
    """What the generated modules are made from: the .proto files and the generator's version."""
    from grpc_tools import grpc_version  # just the version string: no protoc, no import hooks

    digest = hashlib.sha256()
    digest.update(grpc_version.VERSION.encode())
    for name in PROTOS:
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update((PROTO_ROOT / name).read_bytes())
    return digest.hexdigest()


def is_current(out: Path = OUT) -> bool:
    """Whether `out` holds modules generated from the present .proto files."""
    try:
        return (out / STAMP_NAME).read_text().strip() == source_digest()
    except OSError:
        return False


def _run_protoc(target: Path) -> None:
    from grpc_tools import protoc  # imported only to generate: it installs import hooks

    include = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={target}",
        f"--pyi_out={target}",
        f"--grpc_python_out={target}",
        *(str(PROTO_ROOT / name) for name in PROTOS),
    ]
    if protoc.main(args) != 0:
        raise CodegenError(f"grpc_tools.protoc failed on {', '.join(PROTOS)}")


def _relative_imports(target: Path) -> None:
    """Point each `*_pb2_grpc.py` at its message module inside our package."""
    for name in PROTOS:
        package = str(Path(name).parent).replace("/", ".")
        module = target / name.replace(".proto", "_pb2_grpc.py")
        text = module.read_text()
        made_relative = 0

        def relative(match: re.Match[str], package: str = package) -> str:
            nonlocal made_relative
            if match.group(1) != package:
                return match.group(0)  # google.protobuf and other absolute imports stay
            made_relative += 1
            return f"from . import {match.group(2)} as "

        rewritten = _SIBLING_IMPORT.sub(relative, text)
        if not made_relative:
            raise CodegenError(f"{module.name}: found no import of {package} to make relative")
        module.write_text(rewritten)


def _mark_packages(target: Path) -> None:
    for directory in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


def generate(out: Path = OUT) -> Path:
    """(Re)generate the modules into `out`, replacing what was there at once."""
    digest = source_digest()
    try:
        staging = Path(tempfile.mkdtemp(prefix=".generated-", dir=out.parent))
    except OSError as exc:
        raise CodegenError(
            f"cannot write the generated gRPC modules into {out.parent} ({exc}); "
            "run `python -m tidings.api.grpc.codegen` as the user who installed Tidings"
        ) from None
    try:
        _run_protoc(staging)
        _relative_imports(staging)
        _mark_packages(staging)
        (staging / STAMP_NAME).write_text(digest + "\n")
        _swap_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    importlib.invalidate_caches()
    return out


def _swap_into_place(staging: Path, out: Path) -> None:
    if out.exists():
        retired = Path(tempfile.mkdtemp(prefix=".retired-", dir=out.parent))
        try:
            out.rename(retired / "generated")
        except FileNotFoundError:
            pass  # another process retired it first
        finally:
            shutil.rmtree(retired, ignore_errors=True)
    try:
        staging.rename(out)
    except OSError:
        if not is_current(out):  # another process put its copy there first: fine if current
            raise


def ensure_current(out: Path = OUT) -> None:
    """Generate the modules unless `out` already holds current ones."""
    if not is_current(out):
        generate(out)


def main() -> None:
    """`python -m tidings.api.grpc.codegen`: regenerate, as the build step does."""
    out = generate()
    print(f"generated {', '.join(PROTOS)} into {os.path.relpath(out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
