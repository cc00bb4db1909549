"""Object Classification engine: segmentation, object features, classifier input, tables."""
