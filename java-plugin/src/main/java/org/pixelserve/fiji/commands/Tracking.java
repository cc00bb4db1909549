package org.pixelserve.fiji.commands;

import ij.ImagePlus;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.client.Table;
import org.pixelserve.fiji.image.TrackOverlay;

/**
 * Plugins &gt; pixelserve &gt; Tracking: ilastik's Tracking workflows; the result hyperstack
 * carries the tracks table's objects as an overlay (a point per object and frame, coloured by lineage).
 */
public final class Tracking extends WorkflowCommand {
    /** The table of one row per object and frame (ProjectInfo.tables). */
    static final String TRACKS = "tracks";

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

    @Override
    protected void decorate(ImagePlus result, List<Table> tables) {
        for (Table table : tables) {
            if (table.name.equals(TRACKS)) {
                TrackOverlay.add(result, table);
            }
        }
    }
}
