package org.pixelserve.fiji.image;

import ij.CompositeImage;
import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;
import ij.process.LUT;
import java.awt.Color;
import java.util.List;
import java.util.regex.Pattern;
import org.pixelserve.v1.ResultHeader;

/**
 * Makes a result look as the project means it: titled after the input and the export source,
 * with the input's calibration; label images with the project's label colours on black and a
 * display range in which value v is drawn in colour v; probabilities with their range (0-1)
 * and one channel per class, named and coloured after it.
 */
public final class ResultStyler {
    private static final Pattern EXTENSION = Pattern.compile(
        "\\.(ome\\.tiff?|tiff?|png|jpe?g|gif|bmp|h5|hdf5|hdf|n5|zarr|npy|ics|ids|czi|lif|nd2|lsm|oib|oif|zip)$",
        Pattern.CASE_INSENSITIVE);

    private ResultStyler() {
    }

    /** "cells.tif" and "Probabilities" give "cells-Probabilities". */
    public static String title(String inputTitle, String exportSource) {
        return stripExtension(inputTitle) + "-" + exportSource;
    }

    public static String stripExtension(String title) {
        String stripped = EXTENSION.matcher(title).replaceFirst("");
        return stripped.isEmpty() ? title : stripped;
    }

    /** The composite mode for a result with these channel colours. */
    public static int compositeMode(ResultHeader header, int channels) {
        return header.getChannelColorsCount() >= channels && channels <= 7 ? IJ.COMPOSITE : IJ.GRAYSCALE;
    }

    public static void style(ImagePlus result, ResultHeader header, Calibration calibration) {
        if (calibration != null) {
            result.setCalibration(calibration.copy());
        }
        int channels = result.getNChannels();
        nameChannels(result, header.getChannelNamesList());
        if (header.getLabelColorsCount() > 0 && channels == 1) {
            result.setLut(labelLut(header.getLabelColorsList()));
            result.setDisplayRange(0, 255);
            return;
        }
        double min = header.hasDrange() ? header.getDrange().getMin() : Double.NaN;
        double max = header.hasDrange() ? header.getDrange().getMax() : Double.NaN;
        if (result instanceof CompositeImage) {
            CompositeImage composite = (CompositeImage) result;
            for (int c = 0; c < channels; c++) {
                LUT lut = c < header.getChannelColorsCount()
                    ? LUT.createLutFromColor(color(header.getChannelColors(c))) : LUT.createLutFromColor(Color.white);
                if (header.hasDrange()) {
                    lut.min = min;
                    lut.max = max;
                } else {
                    composite.setPositionWithoutUpdate(c + 1, 1, 1);
                    composite.resetDisplayRange();
                    lut.min = composite.getDisplayRangeMin();
                    lut.max = composite.getDisplayRangeMax();
                }
                composite.setChannelLut(lut, c + 1);
            }
            composite.setPosition(1, 1, 1);
            composite.updateAllChannelsAndDraw();
        } else if (header.hasDrange()) {
            result.setDisplayRange(min, max);
        } else {
            result.resetDisplayRange();
        }
    }

    /** Each plane's label says its channel: the class name of a probability channel. */
    private static void nameChannels(ImagePlus result, List<String> names) {
        if (names.isEmpty()) {
            return;
        }
        ImageStack stack = result.getStack();
        int channels = result.getNChannels();
        for (int n = 1; n <= stack.getSize(); n++) {
            int channel = (n - 1) % channels;
            if (channel < names.size()) {
                stack.setSliceLabel(names.get(channel), n);
            }
        }
    }

    /** Index 0 black, index v the colour of label v, the rest black. */
    public static LUT labelLut(List<org.pixelserve.v1.Color> colors) {
        byte[] red = new byte[256];
        byte[] green = new byte[256];
        byte[] blue = new byte[256];
        for (int v = 1; v <= Math.min(255, colors.size()); v++) {
            org.pixelserve.v1.Color color = colors.get(v - 1);
            red[v] = (byte) color.getRed();
            green[v] = (byte) color.getGreen();
            blue[v] = (byte) color.getBlue();
        }
        return new LUT(red, green, blue);
    }

    static Color color(org.pixelserve.v1.Color color) {
        return new Color(color.getRed() & 0xff, color.getGreen() & 0xff, color.getBlue() & 0xff);
    }
}
