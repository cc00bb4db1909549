"""`pixelserve train` and `pixelserve.train`: create, extend and retrain Pixel Classification,
Autocontext and Object Classification projects in ilastik's layout (see docs/training.md and
docs/object-classification.md).

- `plan.py`: gathers and checks images, labels, features and names (new or from a project);
- `samples.py`: feature rows of the labelled pixels, computed around the labels only;
- `trainer.py`: trains the stages and writes the project;
- `feature_choice.py`, `label_images.py`, `stage_labels.py`: the pieces (what a stored project holds is read by `project/pixel_classification.py`);
- `object_plan.py`, `objects.py`: Object Classification (`--workflow object`): lanes, settings
  and object labels, then the objects' feature rows and the forest (written by
  `project/object_writer.py`).
"""
