package org.pixelserve.fiji.commands;

import java.util.Arrays;
import java.util.List;

/** Plugins &gt; pixelserve &gt; Multicut: ilastik's Boundary-based Segmentation with Multicut. */
public final class Multicut extends WorkflowCommand {
    @Override
    public String name() {
        return "Multicut";
    }


    @Override
    protected List<Param> imageInputs() {
        return Arrays.asList(rawData(), optionalImage("probabilities", "the boundary probabilities"),
            optionalImage("superpixels", "the superpixels (watershed), or None"));
    }

    @Override
    protected List<String> knownExportSources() {
        return Arrays.asList("Multicut Segmentation");
    }
}
