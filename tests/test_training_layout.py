"""Every group, dataset (with its kind of value) and attribute of a project written by
`pixelserve train`, against ilastik 1.4.1's own projects of the same kind.

The projects are retrained from ilastik's fixture projects themselves, so both files describe
the same images, features and labels. Any difference must be explained below; an explanation
that no longer matches anything fails too, so the list stays true.
"""

from __future__ import annotations

import re

import h5py
import pytest

from pixelserve.training.trainer import train_project

CASES = [
    ("PixelClass.ilp", "Data_1channel.png", "yxc"),
    ("PixelClass3Channel.ilp", "Data_3channel.png", "yxc"),
    ("PixelClass3D.ilp", "Data_3D.npy", "zyxc"),
    ("Autocontext_2D.ilp", "Data_1channel.png", "yxc"),
    ("Autocontext_3D.ilp", "Data_3D.npy", "zyxc"),
]

STAGE = r"PixelClassification(01)?"
# (extra in ours | missing in ours, regular expression over the entry) -> why
EXPLAINED = {
    ("extra", r"dataset pixelserveVersion string"):
        "pixelserve's version beside ilastikVersion, saying which tool wrote the file; "
        "ilastik reads only the root entries it knows",
    ("missing", rf"dataset {STAGE}/ClassifierFactory string"):
        "a pickle in ilastik; pixelserve writes no pickles, and ilastik then uses its default "
        "factory, the same parallel vigra random forest (with 100 trees)",
    ("missing", rf"group {STAGE}/Bookmarks"):
        "the viewer's bookmarks, a pickle in ilastik; absent, ilastik starts without any",
    ("missing", rf"dataset {STAGE}/Bookmarks/NNNN void"): "see Bookmarks",
    ("missing", rf"attr {STAGE}/Bookmarks/NNNN version"): "see Bookmarks",
}

_KINDS = {"S": "string", "O": "string", "U": "string", "b": "bool", "i": "int", "u": "uint",
          "f": "float", "V": "void"}
# Numbered names whose count depends on the data (forests, trees, label blocks, lanes).
_NUMBERED = [(r"Forest\d+", "ForestNNNN"), (r"Tree_\d+", "Tree_N"), (r"block\d+", "blockNNNN"),
             (r"lane\d+", "laneNNNN"), (r"labels\d+", "labelsNNN"), (r"Bookmarks/\d+", "Bookmarks/NNNN")]


def layout(path) -> set[str]:
    entries = set()

    def visit(name, item):
        for pattern, replacement in _NUMBERED:
            name = re.sub(pattern, replacement, name)
        if isinstance(item, h5py.Dataset):
            entries.add(f"dataset {name} {_KINDS.get(item.dtype.kind, item.dtype.kind)}")
        else:
            entries.add(f"group {name}")
        entries.update(f"attr {name} {attribute}" for attribute in item.attrs)

    with h5py.File(path, "r") as file:
        file.visititems(visit)
        entries.update(f"attr / {attribute}" for attribute in file.attrs)
    return entries


@pytest.fixture(scope="module")
def differences(api_projects, tmp_path_factory):
    """{(side, entry): [fixture names]} for all cases."""
    folder = tmp_path_factory.mktemp("layout")
    found: dict[tuple[str, str], list[str]] = {}
    for project, image, axes in CASES:
        ours = train_project(folder / project, api_projects / image, project=api_projects / project,
                             axes=axes, trees=3, seed=0, progress=False).path
        mine, theirs = layout(ours), layout(api_projects / project)
        for side, entries in (("extra", mine - theirs), ("missing", theirs - mine)):
            for entry in entries:
                found.setdefault((side, entry), []).append(project)
    return found


def test_every_layout_difference_is_explained(differences):
    unexplained = [f"{side}: {entry} ({', '.join(projects)})"
                   for (side, entry), projects in sorted(differences.items())
                   if not any(side == s and re.fullmatch(p, entry) for s, p in EXPLAINED)]
    assert not unexplained, "unexplained differences to ilastik's projects:\n" + "\n".join(unexplained)


def test_every_explanation_is_still_needed(differences):
    stale = [pattern for side, pattern in EXPLAINED
             if not any(side == s and re.fullmatch(pattern, e) for s, e in differences)]
    assert not stale, f"explanations that match no difference any more: {stale}"
