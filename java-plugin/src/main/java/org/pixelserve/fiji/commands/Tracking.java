package org.pixelserve.fiji.commands;

import java.util.Arrays;
import java.util.List;

/** Plugins &gt; pixelserve &gt; Tracking: ilastik's Tracking workflows. */
public final class Tracking extends WorkflowCommand {
    @Override
    public String name() {
        return "Tracking";
    }


    @Override
    protected List<Param> imageInputs() {
        return Arrays.asList(rawData(), optionalImage("prediction_maps", "the pixel probabilities (projects trained from prediction maps)"),
            optionalImage("binary_image", "the segmentation (Tracking with Learning projects from a binary image)"),
            optionalImage("segmentation_image", "the segmentation (Conservation Tracking projects from a binary image)"));
    }

    @Override
    protected List<String> knownExportSources() {
        return Arrays.asList("Tracking-Result", "Merger-Result", "Object-Identities");
    }
}
