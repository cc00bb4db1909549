"""BatchService.RunBatch: a folder of files run on the server through the command line's own
batch loop: the files written equal `pixelserve --headless`'s, a bad file fails alone with
its reason, every path stays inside the allowed roots, and a cancelled run leaves no
partial file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import h5py
import numpy as np
import pytest
import tifffile

from conftest import serving
from pixelserve import protocol
from pixelserve.synthetic import cells_image

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory, project_2d) -> Path:
    folder = tmp_path_factory.mktemp("batch_rpc")
    shutil.copy(project_2d, folder / "MyProject.ilp")
    (folder / "images").mkdir()
    for index in range(3):
        tifffile.imwrite(folder / "images" / f"cells_{index}.tif", cells_image((96, 80), seed=index)[0])
    (folder / "images" / "cells_bad.tif").write_bytes(b"this is not an image")
    (folder / "images" / "notes.txt").write_text("not matched by the pattern")
    return folder


@pytest.fixture(scope="module")
def stub(folder):
    with serving(folder) as address:
        channel = grpc.insecure_channel(address)
        yield protocol.batch_grpc.BatchServiceStub(channel)
        channel.close()


def request(root: Path, **fields) -> object:
    """A BatchRequest for the project in `root`, over root/images unless `folder` is given."""
    settings = protocol.prediction.ExportSettings(export_source=fields.pop("export_source", ""))
    fields.setdefault("folder", str(root / "images"))
    return protocol.batch.BatchRequest(project=str(root / "MyProject.ilp"), export_settings=settings, **fields)


def responses_by_kind(responses) -> dict[str, list]:
    kinds: dict[str, list] = {"files": [], "progress": [], "file": [], "summary": []}
    for response in responses:
        kind = response.WhichOneof("kind")
        kinds[kind].append(getattr(response, kind))
    return kinds


def test_a_folder_on_the_server_gives_the_command_lines_files(folder, stub, tmp_path):
    answer = responses_by_kind(stub.RunBatch(request(
        folder, pattern="cells_*.tif", export_source="Simple Segmentation", output_format="tif",
        output_filename_format="served/{nickname}_{result_type}")))
    [files] = answer["files"]
    assert [Path(p).name for p in files.paths] == ["cells_0.tif", "cells_1.tif", "cells_2.tif", "cells_bad.tif"]
    outcomes = {Path(o.path).name: o for o in answer["file"]}
    assert sorted(outcomes) == ["cells_0.tif", "cells_1.tif", "cells_2.tif", "cells_bad.tif"]
    bad = outcomes["cells_bad.tif"]
    assert bad.user_error and not bad.written and "Cannot read" in bad.error and "cells_bad.tif" in bad.error
    [summary] = answer["summary"]
    assert (summary.files, summary.written, summary.failed, summary.exit_code) == (4, 3, 1, 2)
    done, total = answer["progress"][-1].done, answer["progress"][-1].total
    assert done == total == 3 * 96 * 80  # the bad file weighs nothing

    good = [folder / "images" / f"cells_{index}.tif" for index in range(3)]
    cli = subprocess.run([BIN / "pixelserve", "--headless", f"--project={folder / 'MyProject.ilp'}",
                          "--export_source=Simple Segmentation", "--output_format=tif",
                          f"--output_filename_format={tmp_path}/{{nickname}}_{{result_type}}", *good],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    for index in range(3):
        [written] = outcomes[f"cells_{index}.tif"].written
        assert written == str(folder / "images" / "served" / f"cells_{index}_Simple_Segmentation.tif")
        np.testing.assert_array_equal(tifffile.imread(written),
                                      tifffile.imread(tmp_path / f"cells_{index}_Simple_Segmentation.tif"))


def test_every_path_stays_inside_the_allowed_roots(folder, stub, tmp_path):
    outside = tmp_path / "elsewhere"
    answer = responses_by_kind(stub.RunBatch(request(folder, pattern="cells_0.tif", output_format="tif",
                                                     output_filename_format=f"{outside}/{{nickname}}")))
    [outcome] = answer["file"]
    assert "outside the server's allowed roots" in outcome.error and outcome.user_error
    assert not outside.exists()  # not even its folder
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.RunBatch(request(folder, folder=str(tmp_path))))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    tifffile.imwrite(tmp_path / "outside.tif", cells_image((64, 64), seed=9)[0])
    (folder / "images" / "link.tif").symlink_to(tmp_path / "outside.tif")
    try:
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.RunBatch(request(folder, pattern="*.tif")))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED and "link.tif" in refused.value.details()
    finally:
        (folder / "images" / "link.tif").unlink()
    # a file inside whose data lies outside (HDF5 external storage) fails alone, unread
    (tmp_path / "secret.raw").write_bytes(bytes(range(64)) * 64)
    with h5py.File(folder / "images" / "linked.h5", "w") as file:
        file.create_dataset("data", shape=(64, 64), dtype="u1", external=[(str(tmp_path / "secret.raw"), 0, 4096)])
    try:
        answer = responses_by_kind(stub.RunBatch(request(folder, pattern="*.h5", output_format="tif",
                                                         output_filename_format=f"{folder}/linked_out")))
        [outcome] = answer["file"]
        assert "reads" in outcome.error and "outside the server's allowed roots" in outcome.error, outcome.error
        assert answer["summary"][0].failed == 1 and not (folder / "linked_out.tif").exists()
    finally:
        (folder / "images" / "linked.h5").unlink()
    with pytest.raises(grpc.RpcError) as nothing:
        list(stub.RunBatch(request(folder, pattern="*.png")))
    assert nothing.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "No file in" in nothing.value.details()


def test_a_cancelled_run_leaves_no_partial_file(folder, stub):
    big = folder / "big"
    big.mkdir()
    for index in range(3):
        tifffile.imwrite(big / f"big_{index}.tif", np.tile(cells_image((512, 512), seed=20 + index)[0], (3, 3)))
    call = stub.RunBatch(request(folder, folder=str(big), output_format="hdf5",
                                 output_filename_format="out/{nickname}"))
    seen = []
    with pytest.raises(grpc.RpcError) as cancelled:
        for response in call:
            seen.append(response.WhichOneof("kind"))
            if response.WhichOneof("kind") == "progress" and response.progress.phase.startswith("file 2 of 3"):
                call.cancel()
    assert cancelled.value.code() == grpc.StatusCode.CANCELLED and "file" in seen
    deadline = time.monotonic() + 20
    while any(p.name.startswith(".") for p in (big / "out").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)  # the server deletes the unfinished file as it stops
    names = sorted(p.name for p in (big / "out").iterdir())
    assert names[0] == "big_0.h5" and "big_2.h5" not in names and not any(n.startswith(".") for n in names), names
    for name in names:  # what is there is complete
        with h5py.File(big / "out" / name) as file:
            assert file["exported_data"].shape == (1536, 1536, 2)
