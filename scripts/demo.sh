#!/usr/bin/env bash
# The demo: installs pixelserve into .venv, makes an example image with scribbled labels,
# trains a project on it and runs a headless prediction like ilastik's. Results: demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
OUT=demo-output
mkdir -p "$OUT"
.venv/bin/python scripts/make_demo_data.py "$OUT"
.venv/bin/pixelserve train --raw_data "$OUT/cells.tif" --labels "$OUT/cells_scribbles.tif" \
    --label_names background,cell --seed 0 --output "$OUT/cells.ilp"
.venv/bin/pixelserve --headless --project="$OUT/cells.ilp" --output_format=tif \
    --export_source="Simple Segmentation" "$OUT/new_cells.tif"
.venv/bin/pixelserve --headless --project="$OUT/cells.ilp" --output_format="compressed hdf5" \
    "$OUT/new_cells.tif"
.venv/bin/python scripts/make_demo_data.py "$OUT" --score
echo "Results are in $(pwd)/$OUT: new_cells_Simple_Segmentation.tif (labels 1 = background,"
echo "2 = cell) and new_cells_Probabilities.h5 (dataset exported_data, float32 yxc)."
