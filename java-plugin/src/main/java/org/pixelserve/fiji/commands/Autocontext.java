package org.pixelserve.fiji.commands;

import java.util.Arrays;
import java.util.List;

/** Plugins &gt; pixelserve &gt; Autocontext: ilastik's Autocontext (two pixel classifications in a row). */
public final class Autocontext extends WorkflowCommand {
    @Override
    public String name() {
        return "Autocontext";
    }


    @Override
    protected List<Param> imageInputs() {
        return Arrays.asList(rawData(), optionalImage("prediction_mask", "pixels to leave out (0 in the mask), or None"));
    }

    @Override
    protected List<String> knownExportSources() {
        return Arrays.asList("Probabilities Stage 2", "Simple Segmentation Stage 2", "Probabilities Stage 1", "Simple Segmentation Stage 1");
    }
}
