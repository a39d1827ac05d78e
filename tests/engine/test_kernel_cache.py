"""The numba cache is keyed by the source of every kernel module (jit.kernel_cache_dir)."""

from __future__ import annotations

from pathlib import Path

import numba

from worker.engine import jit


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_change_to_any_kernel_module_names_a_new_cache(tmp_path: Path) -> None:
    sums = _write(tmp_path, "sums.py", "from worker.engine.jit import kernel\nA = 1\n")
    curve = _write(tmp_path, "curve.py", "from worker.engine.jit import kernel\nB = 1\n")
    plain = _write(tmp_path, "plain.py", "C = 1\n")
    files = [sums, curve, plain]
    before = jit.kernel_cache_dir(tmp_path, files)

    plain.write_text("C = 2\n")
    assert jit.kernel_cache_dir(tmp_path, files) == before, "not a kernel module"

    sums.write_text("from worker.engine.jit import kernel\nA = 2\n")
    after = jit.kernel_cache_dir(tmp_path, files)
    assert after != before
    assert after.parent == tmp_path
    assert jit.kernel_cache_dir(tmp_path, reversed(files)) == after, "order-free"


def test_the_engine_caches_under_the_digest_of_its_kernel_modules() -> None:
    engine = Path(jit.__file__).resolve().parent
    expected = jit.kernel_digest(engine.glob("*.py"))
    assert Path(numba.config.CACHE_DIR).name == f"kernels-{expected}"
    assert {"grid_kernel.py", "numpy_sums.py"} <= {
        p.name for p in engine.glob("*.py") if b"from worker.engine.jit import" in p.read_bytes()
    }
