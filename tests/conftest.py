"""Shared test helpers: where ilastik's fixtures are, and ilastik's pass criterion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: How a documented command that fails on purpose says so, e.g. "# exits with code 2: ...".
EXPECTED_FAILURE = re.compile(r"#\s*exits with code (\d+)")


def doc_blocks(name: str, language: str = "bash") -> list[str]:
    """The code blocks of docs/<name> in `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def shell_env() -> dict:
    """The environment in which documented commands find this venv's pixelserve first."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def run_shell(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """A documented shell command, run as a reader would run it."""
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=shell_env(), capture_output=True, text=True,
                          timeout=timeout)


def fixtures_dir() -> Path:
    return Path(os.environ.get("PIXELSERVE_FIXTURES", ROOT.parent / "shared" / "fixtures" / "ilastik"))


def require_fixtures() -> Path:
    folder = fixtures_dir()
    if not (folder / "api_projects.zip").exists():
        pytest.skip(f"ilastik fixtures not found at {folder} (set PIXELSERVE_FIXTURES to the "
                    "folder holding api_projects.zip and test_projects.zip)")
    return folder


def _unpacked(tmp_path_factory, archive_name: str) -> Path:
    folder = require_fixtures()
    target = tmp_path_factory.mktemp(archive_name.removesuffix(".zip"))
    with zipfile.ZipFile(folder / archive_name) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(scope="session")
def api_projects(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory, "api_projects.zip")


@pytest.fixture(scope="session")
def test_projects(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory, "test_projects.zip")


def assert_matches_ilastik(result: np.ndarray, reference: np.ndarray) -> None:
    """ilastik's own cross-platform criterion: < 0.1 % of pixels off by >= 0.015, none by >= 0.15."""
    assert result.shape == reference.shape, (result.shape, reference.shape)
    difference = np.abs(result.astype(np.float64) - reference.astype(np.float64))
    off = np.mean(difference >= 0.015)
    assert off < 0.001, f"{off:.3%} of values differ by >= 0.015 (max {difference.max():.4f})"
    assert difference.max() < 0.15, f"max difference {difference.max():.4f}"


def train_project(path: Path, image: np.ndarray, labels: np.ndarray, axes: str, *,
                  scales=(0.3, 1.0, 3.5), trees: int = 10, seed: int = 0, in_2d: bool = False,
                  label_names=("background", "cell")) -> Path:
    """A small project of our own, trained through the trainer's API."""
    from pixelserve.project.writer import TrainingImage, write_pixel_classification
    from pixelserve.features import all_features
    from pixelserve.training.trainer import DEFAULT_COLORS, labelled_samples, train_forest
    from pixelserve.workflows.volume import Volume

    specs = all_features(scales, in_2d=in_2d)
    raw = Volume.from_array(image, axes)
    label_axes = axes.replace("c", "")
    features, values = labelled_samples(raw, Volume.from_array(labels, label_axes), specs)
    forest = train_forest(features, values, n_trees=trees, seed=seed, threads=1)
    axes_c = axes if "c" in axes else axes + "c"
    shape_c = image.shape if "c" in axes else image.shape + (1,)
    training = TrainingImage(file_path=str(path.with_suffix(".tif")), nickname=path.stem,
                             axes=axes_c, shape=shape_c)
    return write_pixel_classification(path, specs=specs, forest=forest,
                                      label_names=list(label_names),
                                      label_colors=DEFAULT_COLORS[:len(label_names)],
                                      training=training)


def all_features_batch(folder: Path, count: int, *, tiles: int, seed: int) -> tuple[Path, list[Path]]:
    """A project with every feature (slow per pixel, so that runs take a while) and `count`
    images of tiles x tiles cell images of 256 x 256, cells_<k>.tif."""
    from pixelserve.features import DEFAULT_SCALES
    from pixelserve.synthetic import cells_image, scribbles
    import tifffile

    image, truth = cells_image((160, 160), seed=5)
    project = train_project(folder / "all_features.ilp", image, scribbles(truth, seed=5), "yx",
                            scales=DEFAULT_SCALES, trees=20)
    images = []
    for index in range(count):
        tile, _ = cells_image((256, 256), seed=seed + index)
        images.append(folder / f"cells_{index}.tif")
        tifffile.imwrite(images[-1], np.tile(tile, (tiles, tiles)))
    return project, images


@pytest.fixture(scope="session")
def project_2d(tmp_path_factory) -> Path:
    from pixelserve.synthetic import cells_image, scribbles

    folder = tmp_path_factory.mktemp("project_2d")
    image, truth = cells_image((160, 160), seed=5)
    return train_project(folder / "cells2d.ilp", image, scribbles(truth, seed=5), "yx")


@pytest.fixture(scope="session")
def project_3d(tmp_path_factory) -> Path:
    from pixelserve.synthetic import cells_image, scribbles

    folder = tmp_path_factory.mktemp("project_3d")
    image, truth = cells_image((48, 64, 64), seed=6)
    return train_project(folder / "cells3d.ilp", image, scribbles(truth, seed=6), "zyx")


def run_measuring_memory(command: list[str]) -> tuple[int, int]:
    """(exit code, peak resident memory in bytes) of a command, from the kernel's high-water
    mark of the process itself (getrusage would also count the parent's pages from fork)."""
    import subprocess
    import time

    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.05)
    return process.returncode, peak
