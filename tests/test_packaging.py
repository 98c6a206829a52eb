"""What users install: the sdist and the wheel built from it hold every module of the source tree,
every data file the package opens at run time and, where a compiler exists, the compiled
``relbert._C`` (so the wheel is platform-tagged). And a source checkout shadows no other
distribution: its ``kernels/`` folder never answers to Hugging Face's ``kernels``."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tracked(*folders: str):
    """The files git tracks under ``folders`` (what a clean checkout has), or every file there."""
    try:
        out = subprocess.run(["git", "ls-files", *folders], cwd=REPO, capture_output=True, text=True, check=True)
        names = [n for n in out.stdout.splitlines() if (REPO / n).is_file()]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(REPO)) for f in folders for p in (REPO / f).rglob("*") if p.is_file()]
    return [n for n in names if "__pycache__" not in n]


def installed_name(source: str) -> str:
    """Where a source file lands in the wheel (``kernels/`` installs as ``relbert/kernels/``)."""
    return "relbert/" + source if source.startswith("kernels/") else source


def expected_files():
    """Every module and every data file the code opens: all tracked files of relbert/ and kernels/
    (the package holds no other kind)."""
    return sorted(installed_name(n) for n in tracked("relbert", "kernels"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist, and the wheel pip builds from it (as a package index user's pip would)."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to copy the tracked files")
    pytest.importorskip("build", reason="pip install build (in the test extra)")
    out = tmp_path_factory.mktemp("dist")
    # A copy of the tracked files: the build sees what a clean clone has, not this tree's leftovers.
    src = out / "src"
    for name in tracked("."):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    run = dict(capture_output=True, text=True, timeout=900)
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(out), str(src)], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sdist = next(out.glob("*.tar.gz"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(sdist)], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sdist, next(out.glob("*.whl"))


def test_the_sdist_holds_every_source_file(built):
    sdist, _ = built
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    sources = tracked("relbert", "kernels", "csrc") + ["setup.py", "pyproject.toml", "README.md"]
    missing = [n for n in sources if n not in names]
    assert not missing, f"the sdist lacks {missing}"


def test_the_wheel_holds_every_module_and_data_file(built):
    _, wheel = built
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
    missing = [n for n in expected_files() if n not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if n.startswith(("tests/", "kernels/", "bench/", "tools/"))], "stray top-level folders"


def test_the_wheel_carries_the_compiled_tokenizer(built):
    _, wheel = built
    if shutil.which(sysconfig.get_config_var("CXX").split()[0] if sysconfig.get_config_var("CXX") else "c++") is None:
        pytest.skip("no C++ compiler: the wheel is pure Python")
    assert not wheel.name.endswith("-py3-none-any.whl"), wheel.name
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    with zipfile.ZipFile(wheel) as whl:
        assert f"relbert/_C{suffix}" in whl.namelist()


# --- no shadowing ----------------------------------------------------------------------
SHADOW_SCRIPT = r"""
import sys
import kernels
assert kernels.__file__ != sys.argv[1], "the checkout's kernels/ shadows the distribution"
kernels.CUDAProperties  # theirs
from relbert import RelBERT
print(RelBERT.from_pretrained(device="cpu").embed([("paris", "france")]).shape, "ok")
"""

ABSENT_SCRIPT = r"""
import sys
import importlib.machinery as m  # hide the installed distribution "kernels", as on a machine without it
real = m.PathFinder.find_spec
def find_spec(name, path=None, target=None):
    spec = real(name, path, target)
    if name == "kernels" and spec is not None and spec.origin and "site-packages" in spec.origin:
        return None
    return spec
m.PathFinder.find_spec = staticmethod(find_spec)
try:
    import kernels
except ModuleNotFoundError as err:
    assert err.name == "kernels", err
    assert "kernels" not in sys.modules
    print("absent ok")
else:
    raise SystemExit(f"the checkout's folder answered to 'kernels': {kernels.__file__}")
import relbert.kernels
assert relbert.kernels.__name__ == "relbert.kernels"
"""


def test_from_the_root_kernels_is_hugging_faces():
    """From the repository root (on sys.path, as ``python -m pytest`` and ``python -c`` put it) the
    name ``kernels`` is the installed Hugging Face distribution, and models load."""
    pytest.importorskip("kernels", reason="Hugging Face's kernels distribution is not installed")
    import importlib.metadata

    importlib.metadata.version("kernels")  # the distribution, not a folder
    ours = str(REPO / "kernels" / "__init__.py")
    proc = subprocess.run([sys.executable, "-c", SHADOW_SCRIPT, ours], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_from_the_root_without_the_distribution_kernels_is_absent():
    """Without Hugging Face's ``kernels``, importing that name from the root fails as it would
    anywhere else (transformers' probe then sees no such package), and ``relbert.kernels`` works."""
    proc = subprocess.run([sys.executable, "-c", ABSENT_SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "absent ok" in proc.stdout
