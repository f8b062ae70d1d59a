"""Tracker's gRPC API (`003_…txt`, "gRPC API"), served beside HTTP by `tidings serve`.

`protos/` holds the .proto (package data); `generated/` its Python modules, made by the build or
on first import (see `codegen`); `stubs` is how the rest of the code imports them.
"""
