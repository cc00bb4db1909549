package org.pixelserve.fiji.commands;

import java.util.Arrays;
import java.util.List;

/** Plugins &gt; pixelserve &gt; Counting: ilastik's Cell Density Counting. */
public final class Counting extends WorkflowCommand {
    @Override
    public String name() {
        return "Counting";
    }


    @Override
    protected List<Param> imageInputs() {
        return Arrays.asList(rawData());
    }

    @Override
    protected List<String> knownExportSources() {
        return Arrays.asList("Probabilities");
    }
}
