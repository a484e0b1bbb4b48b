"""The integer codes of reset modes and surrogates: owned by the Python types, copied to the
native side only through the generated header ``axonal/csrc/codes.h``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch

import axonal
from axonal.csrc import gen_codes, header_paths
from axonal.functional import surrogate as sg
from axonal.functional.neurons import LIFParams, ResetMode, get_family
from axonal.kernels import linear
from axonal.sim import native_loop

ROOT = Path(axonal.__file__).parent
NATIVE_SOURCES = [ROOT / "kernels" / "fused_cpu.cpp", ROOT / "kernels" / "fused_ref_cpu.cpp",
                  ROOT / "csrc" / "fused_kernels.h", ROOT / "kernels" / "sparse_cpu.cpp",
                  ROOT / "sim" / "_native.c"]
# how each reaches the neuron math: directly, or through the fused kernels' shared header
_MATH_INCLUDES = ('#include "../csrc/neuron_math.h"', '#include "../csrc/fused_kernels.h"',
                  '#include "neuron_math.h"')


def test_checked_in_header_is_what_the_types_generate(tmp_path: Path) -> None:
    assert gen_codes.HEADER.read_text() == gen_codes.render(), (
        "axonal/csrc/codes.h is stale: run python -m axonal.csrc.gen_codes"
    )
    assert gen_codes.main(["--check"]) == 0
    stale = tmp_path / "codes.h"
    stale.write_text(gen_codes.render().replace("AXONAL_RESET_ZERO 1", "AXONAL_RESET_ZERO 7"))
    assert gen_codes.main(["--check", "--output", str(stale)]) == 1
    assert gen_codes.main(["--output", str(stale)]) == 0
    assert stale.read_text() == gen_codes.render()


def test_header_carries_every_code() -> None:
    text = gen_codes.render()
    for mode in ResetMode:
        assert f"#define AXONAL_RESET_{mode.name} {mode.code}\n" in text
    for cls, code in sg.kernel_codes().items():
        assert f"#define AXONAL_SURROGATE_{cls.name.upper()} {code}\n" in text
    for prefix, table in (("SIM_SOURCE", native_loop.SOURCE_KINDS),
                          ("SIM_CHANNEL", native_loop.CHANNEL_KINDS),
                          ("SIM_DELAY", native_loop.DELAY_KINDS)):
        for name, code in table.items():
            assert f"#define AXONAL_{prefix}_{name} {code}\n" in text
    assert f"#define AXONAL_RESET_COUNT {len(ResetMode)}\n" in text
    assert f"#define AXONAL_SURROGATE_COUNT {len(sg.kernel_codes())}\n" in text


def test_codes_are_dense_and_unique() -> None:
    assert sorted(mode.code for mode in ResetMode) == list(range(len(ResetMode)))
    codes = sorted(sg.kernel_codes().values())
    assert codes == list(range(len(codes)))
    # every registered surrogate whose forward pass is the step has a kernel
    assert {cls.name for cls in sg.kernel_codes()} == set(sg.names())


def test_kernel_tables_derive_from_the_types() -> None:
    assert linear.RESET_CODES == {mode: mode.code for mode in ResetMode}
    assert linear.SURROGATE_CODES == sg.kernel_codes()
    assert ResetMode("zero") is ResetMode.ZERO and ResetMode.ZERO.value == "zero"


def test_subclasses_do_not_inherit_a_kernel_code() -> None:
    @dataclass(frozen=True)
    class Wider(sg.FastSigmoid):
        def grad(self, x):  # type: ignore[no-untyped-def]
            return 2.0 * super().grad(x)

    assert sg.kernel_code(sg.FastSigmoid()) == sg.FastSigmoid.code
    assert sg.kernel_code(Wider()) is None
    assert sg.kernel_code(sg.Smoothed(sg.ArcTan())) is None
    lif = get_family("lif")
    assert linear.fused_unsupported(lif, LIFParams(surrogate=Wider()), torch.zeros(3, 2)) is not None
    assert linear.fused_unsupported(lif, LIFParams(), torch.zeros(3, 2)) is None


def test_register_refuses_a_code_already_taken() -> None:
    @dataclass(frozen=True)
    class Clash(sg.Surrogate):
        name: ClassVar[str] = "clash_for_test"
        code: ClassVar[int | None] = sg.ArcTan.code

    with pytest.raises(ValueError, match="already ArcTan"):
        sg.register(Clash)
    assert "clash_for_test" not in sg.names()


@pytest.mark.parametrize("source", NATIVE_SOURCES, ids=lambda p: p.name)
def test_native_sources_take_codes_and_math_from_the_shared_headers(source: Path) -> None:
    text = source.read_text()
    assert any(line in text for line in _MATH_INCLUDES), source.name
    # no hand-written copy of a code table: no enumerator or define set to a literal code
    names = [m.name for m in ResetMode] + [c.name.upper() for c in sg.kernel_codes()]
    for name in names:
        assert not re.search(rf"\b{name}\s*=\s*\d", text), (source.name, name)
    assert {p.name for p in header_paths()} >= {"codes.h", "neuron_math.h", "neuron_math_body.h"}
