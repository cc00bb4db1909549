package org.pixelserve.fiji.commands;

import java.util.Arrays;
import java.util.List;

/** Plugins &gt; pixelserve &gt; Pixel Classification: ilastik's Pixel Classification: probabilities, segmentation, uncertainty or features of every pixel. */
public final class PixelClassification extends WorkflowCommand {
    @Override
    public String name() {
        return "Pixel Classification";
    }


    @Override
    protected List<Param> imageInputs() {
        return Arrays.asList(rawData(), optionalImage("prediction_mask", "pixels to leave out (0 in the mask), or None"));
    }
}
