"""Regenerate the gRPC stubs in this package from ``proto/externalscaler.proto``.

Run ``python -m scaler.rpc.generate``. The proto is mapped to the virtual path
``scaler/rpc/`` so the generated modules import each other by package path,
and no post-processing of generated code is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = PROJECT_ROOT / "proto"
PROTO_NAME = "externalscaler.proto"
GENERATED = ("externalscaler_pb2.py", "externalscaler_pb2.pyi", "externalscaler_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Write the stubs under ``out_root/scaler/rpc/`` and return their paths."""
    target = out_root / "scaler" / "rpc"
    target.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path=scaler/rpc={PROTO_DIR}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"scaler/rpc/{PROTO_NAME}",
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    return [target / name for name in GENERATED]


if __name__ == "__main__":
    for path in generate(PROJECT_ROOT):
        print(path.relative_to(PROJECT_ROOT))
    sys.exit(0)
