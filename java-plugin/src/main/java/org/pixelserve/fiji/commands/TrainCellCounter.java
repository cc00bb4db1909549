package org.pixelserve.fiji.commands;

import ij.ImagePlus;
import ij.gui.Roi;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.image.RoiLabels;

/**
 * Plugins &gt; pixelserve &gt; Train Cell Counter: a Cell Density Counting project from an image
 * and its dots: a dot label image (1: a dot on each object, 2: background, 0: unlabelled) or
 * the image's ROIs, point ROIs the dots and area or line ROIs the background. ilastik's
 * recipe fixes the forests, so there are no trees to choose.
 */
public final class TrainCellCounter extends TrainingCommand {
    @Override
    public String name() {
        return "Train Cell Counter";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            rawData(),
            labels("a dot label image (1: a dot on each object, 2: background); None: the image's ROIs, "
                + "points the dots, areas and lines the background"),
            output(),
            Param.optional("sigma", Param.Kind.DECIMAL, "", "the smoothing in pixels that turns dots into a density (default 2.5)"),
            Param.optional(FEATURES, Param.Kind.TEXT, "default", "default (ilastik's feature grid), all, or e.g. gaussian:1.6,3.5 hessian:1.6"),
            seed());
    }

    @Override
    protected String workflow(Values values) {
        return "counting";
    }

    @Override
    protected String runsIn(Values values) {
        return "Counting";
    }

    @Override
    protected RoiLabels roiLabels(ImagePlus raw, Roi[] rois) throws PixelserveException {
        return RoiLabels.dots(raw, rois);
    }

    @Override
    protected void configure(Values values, ImagePlus raw, Request request) {
        request.options(values, "sigma");
    }
}
