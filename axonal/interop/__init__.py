"""Interchange with other tools (needs the optional ``nir`` package: ``pip install 'axonal[interop]'``)."""

from axonal.interop._runtime import GraphModule
from axonal.interop.nir import (
    SUPPORTED_NODES,
    UNSUPPORTED_NODES,
    as_sequential,
    from_nir,
    load_nir_file,
    read_nir,
    to_nir,
    write_nir,
)

__all__ = [
    "SUPPORTED_NODES",
    "UNSUPPORTED_NODES",
    "GraphModule",
    "as_sequential",
    "from_nir",
    "load_nir_file",
    "read_nir",
    "to_nir",
    "write_nir",
]
