package org.pixelserve.fiji.commands;

import ij.ImagePlus;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.PixelserveException;

/**
 * Plugins &gt; pixelserve &gt; Train Object Classifier: an Object Classification project from an
 * image, its objects (a segmentation image, or prediction maps thresholded as the options say)
 * and their labels: a label image or the image's ROIs, one class per ROI group; an object
 * takes the class of the labelled pixels inside it.
 */
public final class TrainObjectClassifier extends TrainingCommand {
    static final String SEGMENTATION = "segmentation_image";
    static final String PREDICTION_MAPS = "prediction_maps";
    /** The thresholding of prediction maps and the features' neighbourhood: `pixelserve train`'s flags. */
    static final String[] OPTIONS = {"threshold", "threshold_channel", "high_threshold", "core_channel", "min_size",
        "max_size", "smoothing", "margin"};

    @Override
    public String name() {
        return "Train Object Classifier";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            rawData(),
            Param.optional(SEGMENTATION, Param.Kind.OPTIONAL_IMAGE, Param.NONE,
                "the objects: a binary or label image (every connected region of one value is an object)"),
            Param.optional(PREDICTION_MAPS, Param.Kind.OPTIONAL_IMAGE, Param.NONE,
                "or the objects as pixel probabilities, thresholded (see threshold)"),
            labels("a label image (0: unlabelled, 1..K: classes); None: the image's ROIs, one class per ROI group"),
            output(),
            Param.optional(LABEL_NAMES, Param.Kind.TEXT, "", "class names, comma-separated (default: ROI group names, else Label k)"),
            Param.optional(FEATURES, Param.Kind.TEXT, "default", "default, all, or ilastik's feature names, e.g. Count,Mean,Convexity"),
            Param.optional(TREES, Param.Kind.NUMBER, "100", "trees of the random forest"),
            seed(),
            Param.optional("threshold", Param.Kind.DECIMAL, "", "prediction maps: objects are pixels >= this (default 0.5)"),
            Param.optional("threshold_channel", Param.Kind.INTEGER, "", "prediction maps: the channel thresholded (default 0)"),
            Param.optional("high_threshold", Param.Kind.DECIMAL, "", "prediction maps: hysteresis, keeping objects that reach this"),
            Param.optional("core_channel", Param.Kind.INTEGER, "", "prediction maps, hysteresis: the channel of high_threshold"),
            Param.optional("min_size", Param.Kind.INTEGER, "", "prediction maps: smallest object in pixels (default 10)"),
            Param.optional("max_size", Param.Kind.INTEGER, "", "prediction maps: largest object in pixels (default 1000000)"),
            Param.optional("smoothing", Param.Kind.TEXT, "", "prediction maps: Gaussian sigma before thresholding, one or z,y,x (default 1)"),
            Param.optional("margin", Param.Kind.TEXT, "", "neighbourhood of the '... in neighborhood' features, one value or x,y[,z] (default 30)"));
    }

    @Override
    protected String workflow(Values values) {
        return "object";
    }

    @Override
    protected String runsIn(Values values) {
        return "Object Classification";
    }

    @Override
    protected void configure(Values values, ImagePlus raw, Request request) throws PixelserveException {
        String segmentation = values.image(SEGMENTATION);
        String maps = values.image(PREDICTION_MAPS);
        if ((segmentation == null) == (maps == null)) {
            throw new PixelserveException(segmentation == null
                ? "No objects given: choose the segmentation image (segmentation_image=[title]) or the prediction maps "
                    + "(prediction_maps=[title]) of '" + raw.getTitle() + "'"
                : "Both a segmentation image and prediction maps were given: choose one of them as the objects");
        }
        ImagePlus objects = image(segmentation != null ? segmentation : maps, segmentation != null ? SEGMENTATION : PREDICTION_MAPS);
        checkCovers(raw, objects, segmentation != null ? "segmentation image" : "prediction map image", segmentation != null);
        request.roles.put(segmentation != null ? "Segmentation Image" : "Prediction Maps", objects);
        request.header.setTrees(Math.max(1, values.number(TREES)));
        request.options(values, OPTIONS);
    }
}
