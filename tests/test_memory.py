"""Memory stays bounded: a volume runs block by block, never whole."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import run_measuring_memory
from pixelserve.synthetic import cells_image


@pytest.mark.skipif(not Path("/proc/self/status").exists(),
                    reason="measures memory through /proc (Linux only)")
def test_volume_prediction_runs_in_bounded_memory(project_3d, tmp_path):
    tile, _ = cells_image((64, 256, 256), seed=4)
    with h5py.File(tmp_path / "volume.h5", "w") as file:
        file.create_dataset("raw", data=np.tile(tile, (1, 4, 4)), chunks=(64, 256, 256))
    voxels = 64 * 1024 * 1024
    code, peak = run_measuring_memory([
        str(Path(sys.executable).parent / "pixelserve"), "--headless", f"--project={project_3d}",
        "--output_format=hdf5", f"--output_filename_format={tmp_path}/result", f"{tmp_path}/volume.h5/raw",
    ])
    assert code == 0
    with h5py.File(tmp_path / "result.h5", "r") as file:
        assert file["exported_data"].shape == (64, 1024, 1024, 2)
    # Whole-volume computation would hold the probabilities (8 bytes/voxel) and the feature
    # stack (4 bytes x 11 features per voxel): over 3 GB. Blockwise stays far below.
    assert 50 * 2**20 < peak < 700 * 2**20, f"peak memory {peak / 2**20:.0f} MiB for {voxels / 2**20:.0f} Mi voxels"
