package org.pixelserve.fiji.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Line;
import ij.gui.PointRoi;
import ij.gui.Roi;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;

/** ROIs to a sparse label image: one class per group, planes by position. */
class RoiLabelsTest {
    static Roi grouped(Roi roi, int group) {
        roi.setGroup(group);
        return roi;
    }

    @Test
    void groupsBecomeConsecutiveClasses() throws PixelserveException {
        ImagePlus image = IJ.createImage("i", "8-bit", 20, 10, 1);
        Line line = new Line(0, 8, 19, 8);
        line.setStrokeWidth(3);
        Roi.setGroupNames("background,,,,cells");
        RoiLabels labels = RoiLabels.of(image, new Roi[] {grouped(new Roi(2, 2, 3, 3), 5), grouped(line, 1)});
        Roi.setGroupNames(null);
        assertEquals(Arrays.asList("background", "cells"), labels.names);
        assertEquals(2, labels.labels.getProcessor().get(3, 3));   // group 5 is class 2
        assertEquals(1, labels.labels.getProcessor().get(10, 8));  // group 1 is class 1, the line is 3 wide
        assertEquals(1, labels.labels.getProcessor().get(10, 7));
        assertEquals(0, labels.labels.getProcessor().get(10, 2));
        assertEquals(8, labels.labels.getBitDepth());
    }

    @Test
    void positionedRoisLabelTheirPlaneOnly() throws PixelserveException {
        ImagePlus stack = IJ.createImage("s", "8-bit", 10, 10, 1, 3, 2);
        Roi first = grouped(new Roi(0, 0, 2, 2), 1);
        first.setPosition(0, 2, 1);
        Roi everywhere = grouped(new Roi(5, 5, 2, 2), 2);
        RoiLabels labels = RoiLabels.of(stack, new Roi[] {first, everywhere});
        assertEquals(6, labels.labels.getStackSize());
        for (int n = 1; n <= 6; n++) {
            assertEquals(n == 2 ? 1 : 0, labels.labels.getStack().getProcessor(n).get(0, 0), "plane " + n);
            assertEquals(2, labels.labels.getStack().getProcessor(n).get(5, 5), "plane " + n);
        }
        assertEquals(3, labels.labels.getNSlices());
        assertEquals(2, labels.labels.getNFrames());
    }

    @Test
    void missingGroupsAndSingleClassesAreExplained() {
        ImagePlus image = IJ.createImage("i", "8-bit", 20, 10, 1);
        assertTrue(assertThrows(PixelserveException.class, () -> RoiLabels.of(image, new Roi[0]))
            .getMessage().contains("has no ROIs"));
        assertTrue(assertThrows(PixelserveException.class, () -> RoiLabels.of(image, new Roi[] {new Roi(1, 1, 2, 2)}))
            .getMessage().contains("has no group"));
        assertTrue(assertThrows(PixelserveException.class,
            () -> RoiLabels.of(image, new Roi[] {grouped(new Roi(1, 1, 2, 2), 3)})).getMessage().contains("only one class"));
    }

    @Test
    void pointsAreDotsAndEverythingElseBackground() throws PixelserveException {
        ImagePlus image = IJ.createImage("i", "8-bit", 20, 10, 1);
        PointRoi points = new PointRoi(new int[] {3, 15, 40}, new int[] {4, 6, 2}, 3);  // the third lies off the image
        RoiLabels labels = RoiLabels.dots(image, new Roi[] {new Roi(0, 0, 10, 10), points});
        assertEquals(1, labels.labels.getProcessor().get(3, 4));
        assertEquals(1, labels.labels.getProcessor().get(15, 6));
        assertEquals(2, labels.labels.getProcessor().get(5, 5));
        assertEquals(0, labels.labels.getProcessor().get(15, 5));
        assertTrue(labels.names.isEmpty());
        assertTrue(assertThrows(PixelserveException.class, () -> RoiLabels.dots(image, new Roi[] {points}))
            .getMessage().contains("no background ROIs"));
        assertTrue(assertThrows(PixelserveException.class, () -> RoiLabels.dots(image, new Roi[] {new Roi(0, 0, 2, 2)}))
            .getMessage().contains("no point ROIs"));
        assertTrue(assertThrows(PixelserveException.class, () -> RoiLabels.dots(image, new Roi[0]))
            .getMessage().contains("has no ROIs"));
    }
}
