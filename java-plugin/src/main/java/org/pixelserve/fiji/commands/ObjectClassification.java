package org.pixelserve.fiji.commands;

import java.util.Arrays;
import java.util.List;

/** Plugins &gt; pixelserve &gt; Object Classification: ilastik's Object Classification (from prediction maps or from a segmentation). */
public final class ObjectClassification extends WorkflowCommand {
    @Override
    public String name() {
        return "Object Classification";
    }


    @Override
    protected List<Param> imageInputs() {
        return Arrays.asList(rawData(), optionalImage("prediction_maps", "the pixel probabilities (projects trained from prediction maps)"),
            optionalImage("segmentation_image", "the segmentation (projects trained from a binary or label image)"));
    }

    @Override
    protected List<String> knownExportSources() {
        return Arrays.asList("Object Predictions", "Object Probabilities", "Blockwise Object Predictions", "Blockwise Object Probabilities", "Object Identities");
    }
}
