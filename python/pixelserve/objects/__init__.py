"""Object Classification engine: ilastik's segmentation, object features, classifier input
and object table, as plain functions on one frame's numpy arrays.

- `segmentation`: `threshold`, `label_segmentation`, `relabel_label_image` (-> object ids 1..N);
- `features`: `compute_object_features` (plugin -> feature -> float32 (N + 1, k));
- `classify`: `feature_matrix`, `predict_objects`, `predicted_classes`;
- `table`: `object_table` (the columns of ilastik's object CSV);
- `catalog`: plugin and feature names, display names, what ilastik offers.
The project side is `pixelserve.project.object_classification`.
"""
