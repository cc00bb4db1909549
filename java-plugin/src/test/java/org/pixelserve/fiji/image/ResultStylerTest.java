package org.pixelserve.fiji.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.CompositeImage;
import ij.IJ;
import ij.ImagePlus;
import ij.measure.Calibration;
import ij.process.LUT;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.v1.Color;
import org.pixelserve.v1.InputRole;
import org.pixelserve.v1.ProjectInfo;
import org.pixelserve.v1.Range;
import org.pixelserve.v1.ResultHeader;

/** Results: titles, calibration, label LUTs, probability ranges and channel names; input checks. */
class ResultStylerTest {
    static Color color(int r, int g, int b) {
        return Color.newBuilder().setRed(r).setGreen(g).setBlue(b).build();
    }

    @Test
    void titlesDropTheInputsExtension() {
        assertEquals("cells-Probabilities", ResultStyler.title("cells.tif", "Probabilities"));
        assertEquals("my cells-Simple Segmentation", ResultStyler.title("my cells.ome.tiff", "Simple Segmentation"));
        assertEquals("stack 2-Probabilities", ResultStyler.title("stack 2", "Probabilities"));
        assertEquals(".tif-Probabilities", ResultStyler.title(".tif", "Probabilities"));
    }

    @Test
    void labelImagesGetTheProjectsColours() {
        ImagePlus labels = IJ.createImage("s", "8-bit", 4, 4, 1);
        ResultHeader header = ResultHeader.newBuilder().addLabelColors(color(255, 0, 0)).addLabelColors(color(0, 255, 0)).build();
        Calibration calibration = new Calibration();
        calibration.pixelWidth = 0.5;
        calibration.setUnit("um");
        ResultStyler.style(labels, header, calibration);
        LUT lut = labels.getProcessor().getLut();
        assertEquals(0, lut.getRGB(0) & 0xffffff);
        assertEquals(0xff0000, lut.getRGB(1) & 0xffffff);
        assertEquals(0x00ff00, lut.getRGB(2) & 0xffffff);
        assertEquals(0.0, labels.getDisplayRangeMin());
        assertEquals(255.0, labels.getDisplayRangeMax());
        assertEquals(0.5, labels.getCalibration().pixelWidth);
        assertEquals("\u00b5m", labels.getCalibration().getUnit());
    }

    @Test
    void probabilitiesGetRangeNamesAndColours() {
        ImagePlus stack = IJ.createImage("p", "32-bit", 4, 4, 2, 1, 1);
        ResultHeader header = ResultHeader.newBuilder().addChannelNames("background").addChannelNames("cell")
            .addChannelColors(color(255, 0, 0)).addChannelColors(color(0, 0, 255))
            .setDrange(Range.newBuilder().setMin(0).setMax(1)).build();
        assertEquals(IJ.COMPOSITE, ResultStyler.compositeMode(header, 2));
        ImagePlus composite = new CompositeImage(stack, ResultStyler.compositeMode(header, 2));
        ResultStyler.style(composite, header, null);
        assertEquals("background", composite.getStack().getSliceLabel(1));
        assertEquals("cell", composite.getStack().getSliceLabel(2));
        LUT second = ((CompositeImage) composite).getChannelLut(2);
        assertEquals(0.0, second.min);
        assertEquals(1.0, second.max);
        assertEquals(0x0000ff, second.getRGB(255) & 0xffffff);
        ImagePlus features = new CompositeImage(IJ.createImage("f", "32-bit", 4, 4, 9, 1, 1), IJ.GRAYSCALE);
        assertEquals(IJ.GRAYSCALE, ResultStyler.compositeMode(ResultHeader.getDefaultInstance(), 9));
        ResultStyler.style(features, ResultHeader.getDefaultInstance(), null);
    }

    @Test
    void mismatchesAreExplainedInOneSentence() throws PixelserveException {
        ProjectInfo project = ProjectInfo.newBuilder().setProject("/data/MyProject.ilp").setMinImageSize(10).build();
        InputRole gray2d = InputRole.newBuilder().setName("Raw Data").setChannels(1).setSpatialDims(2).build();
        ImageLayout rgb = ImageLayout.of(IJ.createImage("a", "RGB", 30, 20, 1));
        PixelserveException channels = assertThrows(PixelserveException.class,
            () -> Compatibility.check("a.png", rgb, project, gray2d));
        assertEquals("'a.png' has 3 channels (RGB) but MyProject.ilp was trained on images with 1 channel: make it "
            + "grayscale (Image > Type > 8-bit) or pick one colour (Image > Color > Split Channels)", channels.getMessage());
        ImageLayout stack = ImageLayout.of(IJ.createImage("s", "8-bit", 30, 20, 1, 5, 1));
        assertTrue(assertThrows(PixelserveException.class, () -> Compatibility.check("s", stack, project, gray2d))
            .getMessage().contains("has 5 slices (z) but MyProject.ilp was trained on 2D images"));
        InputRole volume = gray2d.toBuilder().setSpatialDims(3).build();
        ImageLayout flat = ImageLayout.of(IJ.createImage("f", "8-bit", 30, 20, 1));
        assertTrue(assertThrows(PixelserveException.class, () -> Compatibility.check("f", flat, project, volume))
            .getMessage().contains("was trained on 3D volumes"));
        ImageLayout tiny = ImageLayout.of(IJ.createImage("t", "8-bit", 5, 20, 1));
        assertTrue(assertThrows(PixelserveException.class, () -> Compatibility.check("t", tiny, project, gray2d))
            .getMessage().contains("needs at least 10 pixels"));
        Compatibility.check("fine", flat, project, gray2d);
        Compatibility.check("any", rgb, project, InputRole.getDefaultInstance());
    }
}
