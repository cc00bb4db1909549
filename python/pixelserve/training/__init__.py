"""`pixelserve train` and `pixelserve.train`: create, extend and retrain Pixel Classification
and Autocontext projects in ilastik's layout (see docs/training.md).

- `plan.py`: gathers and checks images, labels, features and names (new or from a project);
- `samples.py`: feature rows of the labelled pixels, computed around the labels only;
- `trainer.py`: trains the stages and writes the project;
- `feature_choice.py`, `label_images.py`, `stage_labels.py`: the pieces (what a stored project holds is read by `project/pixel_classification.py`).
"""
