"""Training Object Classification and Cell Density Counting projects over gRPC (TrainingImage.roles,
TrainHeader.options): the project the server writes from streamed arrays predicts what the
project `pixelserve train` writes from the same data and seed predicts; role images are saved
next to the project like raw images, and role paths outside the allowed roots are refused."""

from __future__ import annotations

import grpc
import h5py
import numpy as np
import pytest
import tifffile

from objects_fixtures import write_shapes
from pixelserve.client import Client, Dataset, ServerError
from pixelserve.server.app import Server, ServerConfig
from pixelserve.synthetic import blobs_image, dot_labels
from pixelserve.training import cli


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("training_workflows")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    write_shapes(root, {"train": 1, "test": 2}, maps=True)
    truth = np.load(root / "train_truth.npy")
    tifffile.imwrite(root / "train_labels.tif", scribbles_on_objects(truth))
    tifffile.imwrite(outside / "train_seg.tif", tifffile.imread(root / "train_seg.tif"))
    image, centres = blobs_image((96, 96), n_blobs=8, seed=2)
    tifffile.imwrite(root / "blobs.tif", image)
    tifffile.imwrite(root / "dots.tif", dot_labels(centres, image.shape, background=200, seed=2))
    return root, outside


def scribbles_on_objects(truth: np.ndarray) -> np.ndarray:
    """Sparse labels: a 3-pixel stroke of each of the first 40 objects' class across it."""
    from scipy import ndimage

    objects, _ = ndimage.label(truth > 0)
    labels = np.zeros(truth.shape, np.uint8)
    for index, box in enumerate(ndimage.find_objects(objects)[:40], start=1):
        ys, xs = np.nonzero(objects[box] == index)
        middle = len(ys) // 2
        for y, x in zip(ys[middle - 1:middle + 2], xs[middle - 1:middle + 2]):
            labels[box][y, x] = truth[box][y, x]
    return labels


@pytest.fixture(scope="module")
def client(folders):
    root, _ = folders
    server = Server(ServerConfig(allowed_roots=(str(root),)))
    server.start()
    with Client(f"127.0.0.1:{server.port}", timeout=120) as client:
        yield client
    server.stop()


def objects_input(root, name: str, variant: str):
    """(role, (array, axes)) of an image's objects: its segmentation or its prediction maps."""
    if variant == "Segmentation Image":
        return variant, (tifffile.imread(root / f"{name}_seg.tif"), "yx")
    with h5py.File(root / f"{name}_maps.h5", "r") as file:
        return variant, (file["probabilities"][()], "yxc")


@pytest.mark.parametrize("variant, flags, options", [
    ("Segmentation Image", ["--segmentation_image=train_seg.tif"], {}),
    ("Prediction Maps", ["--prediction_maps=train_maps.h5/probabilities", "--threshold=0.4", "--min_size=20",
                         "--smoothing=0.5", "--threshold_channel=1"],
     {"threshold": 0.4, "min_size": 20, "smoothing": "0.5", "threshold_channel": 1}),
])
def test_object_classification_over_grpc_equals_the_command_line(client, folders, variant, flags, options,
                                                                 monkeypatch):
    root, _ = folders
    monkeypatch.chdir(root)
    name = variant.lower().replace(" ", "_")
    common = ["--workflow=object", "--raw_data=train.tif", "--labels=train_labels.tif", "--label_names=round,elongated",
              "--features=Count,Mean,Variance,RegionRadii,Convexity", "--trees=10", "--seed=4"]
    cli.main([*common, *flags, f"--output=cli_{name}.ilp"])
    role, given = objects_input(root, "train", variant)
    info = client.train(f"wire_{name}.ilp", [((tifffile.imread(root / "train.tif"), "yx"),
                                              tifffile.imread(root / "train_labels.tif"), {role: given})],
                        label_names=["round", "elongated"], features="Count,Mean,Variance,RegionRadii,Convexity",
                        trees=10, seed=4, workflow="object", options=options)
    assert info.workflow.startswith("Object Classification") and [label.name for label in info.labels] == [
        "round", "elongated"]
    assert (root / f"wire_{name}_training" / f"{name}_0.h5").exists()  # saved next to it, like the raw data
    test = tifffile.imread(root / "test.tif")
    role, given = objects_input(root, "test", variant)
    expected = client.predict(f"cli_{name}.ilp", test, "yx", inputs={role: given}).array
    got = client.predict(f"wire_{name}.ilp", test, "yx", inputs={role: given}).array
    assert expected.max() == 2
    np.testing.assert_array_equal(got, expected)


def test_counting_over_grpc_equals_the_command_line(client, folders, monkeypatch):
    root, _ = folders
    monkeypatch.chdir(root)
    features = "gaussian:1.6,3.5 hessian:1.6"
    cli.main(["--workflow=counting", "--raw_data=blobs.tif", "--labels=dots.tif", f"--features={features}",
              "--sigma=2", "--seed=1", "--output=cli_counting.ilp"])
    client.train("wire_counting.ilp", [((tifffile.imread(root / "blobs.tif"), "yx"), tifffile.imread(root / "dots.tif"))],
                 features=features, seed=1, workflow="counting", options={"sigma": 2})
    other = blobs_image((96, 96), n_blobs=8, seed=3)[0]
    expected = client.predict("cli_counting.ilp", other, "yx").array
    assert expected.sum() > 1
    np.testing.assert_array_equal(client.predict("wire_counting.ilp", other, "yx").array, expected)


def refused(call, code) -> str:
    with pytest.raises(ServerError) as error:
        call()
    assert error.value.code == code, error.value
    return str(error.value)


def test_role_paths_outside_the_roots_unknown_roles_and_options_are_refused(client, folders):
    root, outside = folders
    image, labels = tifffile.imread(root / "train.tif"), tifffile.imread(root / "train_labels.tif")

    def train(roles, **options):
        return lambda: client.train("refused.ilp", [((image, "yx"), labels, roles)], workflow="object", trees=2,
                                    **options)

    message = refused(train({"Segmentation Image": Dataset(str(outside / "train_seg.tif"))}),
                      grpc.StatusCode.PERMISSION_DENIED)
    assert "outside the server's allowed roots" in message
    message = refused(train({"../../Segmentation": (tifffile.imread(root / "train_seg.tif"), "yx")}),
                      grpc.StatusCode.INVALID_ARGUMENT)
    assert ("'../../Segmentation' is not an input role of training. Fix: use one of Label Image, Prediction Maps, "
            "Segmentation Image.") in message
    message = refused(train({"Segmentation Image": Dataset(str(root / "train_seg.tif"))}, options={"treshold": 1}),
                      grpc.StatusCode.INVALID_ARGUMENT)
    assert "'treshold' is not a training option. Fix: use one of threshold, threshold_channel" in message
    message = refused(train({"Segmentation Image": Dataset(str(root / "train_seg.tif"), axes="xy")}),
                      grpc.StatusCode.INVALID_ARGUMENT)
    assert "is read in the axes its file stores" in message and "'xy'" in message
    # an Object Classification setting with pixel classification is named, not dropped
    message = refused(lambda: client.train("refused.ilp", [((image, "yx"), labels)], trees=2,
                                           options={"threshold": 0.4}), grpc.StatusCode.INVALID_ARGUMENT)
    assert "threshold is an Object Classification setting. Fix: give workflow='object'" in message
    message = refused(train({"Segmentation Image": Dataset(str(root / "train_seg.tif"))}, options={"sigma": 2}),
                      grpc.StatusCode.INVALID_ARGUMENT)
    assert "sigma is not an Object Classification setting" in message
    assert not (root / "refused.ilp").exists() and not (root / "refused_training").exists()
