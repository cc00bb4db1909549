package org.pixelserve.fiji.commands;

import ij.ImagePlus;
import java.util.Arrays;
import java.util.List;

/**
 * Plugins &gt; pixelserve &gt; Train Pixel Classifier: a Pixel Classification (or Autocontext)
 * project from an image and its labels, either a label image (0 unlabelled, 1..K the classes)
 * or the image's ROIs with one class per ROI group. The server writes the .ilp, which
 * ilastik opens too.
 */
public final class TrainPixelClassifier extends TrainingCommand {
    static final String PIXEL = "Pixel Classification";
    static final String AUTOCONTEXT = "Autocontext";

    @Override
    public String name() {
        return "Train Pixel Classifier";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            rawData(),
            labels("a label image (0: unlabelled, 1..K: classes); None: the image's ROIs, one class per ROI group"),
            output(),
            Param.optional(LABEL_NAMES, Param.Kind.TEXT, "", "class names, comma-separated (default: ROI group names, else Label k)"),
            Param.choice("workflow", PIXEL, "Pixel Classification, or Autocontext (two stages)", PIXEL, AUTOCONTEXT),
            Param.optional(FEATURES, Param.Kind.TEXT, "default", "default (ilastik's feature grid), all, or e.g. gaussian:0.3,1,3.5 hessian:1,3.5"),
            Param.optional(TREES, Param.Kind.NUMBER, "100", "trees of the random forest"),
            seed());
    }

    @Override
    protected String workflow(Values values) {
        return values.get("workflow").equals(AUTOCONTEXT) ? "autocontext" : "pixel";
    }

    @Override
    protected String runsIn(Values values) {
        return values.get("workflow").equals(AUTOCONTEXT) ? AUTOCONTEXT : PIXEL;
    }

    @Override
    protected void configure(Values values, ImagePlus raw, Request request) {
        request.header.setTrees(Math.max(1, values.number(TREES))).setIn2D(false);
    }
}
