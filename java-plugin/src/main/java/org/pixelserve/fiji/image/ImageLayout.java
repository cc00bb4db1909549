package org.pixelserve.fiji.image;

import ij.ImagePlus;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.DType;

/**
 * The axes of an ImageJ image: x, y, channels (an RGB image has 3), slices (z) and frames (t).
 * ImageJ stores planes of y-x with channels varying fastest, then slices, then frames, so the
 * image is, in C order, an array with the axes "tzcyx". Axes of size 1 are left out, except
 * y and x, and c of an RGB image: a 2D grayscale image is "yx", an RGB image "cyx", a time
 * series of volumes with two channels "tzcyx".
 */
public final class ImageLayout {
    /** The order in which ImageJ keeps planes: every image is a C-order array in these axes. */
    public static final String IMAGEJ_ORDER = "tzcyx";
    /** ilastik's own order, which its HDF5 files use. */
    public static final String ILASTIK_ORDER = "tzyxc";

    public final int frames;
    public final int slices;
    public final int channels;
    public final int height;
    public final int width;
    public final boolean rgb;
    public final DType dtype;

    public ImageLayout(int frames, int slices, int channels, int height, int width, boolean rgb, DType dtype) {
        this.frames = frames;
        this.slices = slices;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.rgb = rgb;
        this.dtype = dtype;
    }

    public static ImageLayout of(ImagePlus image) {
        boolean rgb = image.getBitDepth() == 24;
        return new ImageLayout(image.getNFrames(), image.getNSlices(), rgb ? 3 : image.getNChannels(),
            image.getHeight(), image.getWidth(), rgb, DType.ofBitDepth(image.getBitDepth()));
    }

    public int size(char axis) {
        switch (axis) {
            case 't': return frames;
            case 'z': return slices;
            case 'c': return channels;
            case 'y': return height;
            case 'x': return width;
            default: throw new IllegalArgumentException("no axis '" + axis + "': axes are t, z, c, y, x");
        }
    }

    /** Whether the image has this axis: y and x always; t, z, c when longer than 1 (c also for RGB). */
    public boolean has(char axis) {
        return axis == 'y' || axis == 'x' || (axis == 'c' && rgb) || size(axis) > 1;
    }

    /** The letters of {@code order} that this image has, e.g. "yx" for a 2D image in "tzcyx". */
    public String axes(String order) {
        StringBuilder axes = new StringBuilder();
        for (char axis : order.toCharArray()) {
            if (has(axis)) {
                axes.append(axis);
            }
        }
        return axes.toString();
    }

    public long[] shape(String axes) {
        long[] shape = new long[axes.length()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = size(axes.charAt(i));
        }
        return shape;
    }

    /** 2 for images with one slice, else 3. */
    public int spatialDims() {
        return slices > 1 ? 3 : 2;
    }

    public long elements() {
        return (long) frames * slices * channels * height * width;
    }

    public long bytes() {
        return elements() * dtype.itemSize;
    }

    /**
     * Checks an axis order for an export: one letter of "tzcyx" each at most, holding every
     * axis the image has, with t and z before c, y and x (the image is written one slice at a
     * time). Returns the order reduced to the image's axes.
     */
    public String checkOrder(String order) throws PixelserveException {
        String lower = order.trim().toLowerCase(java.util.Locale.ROOT);
        for (int i = 0; i < lower.length(); i++) {
            char axis = lower.charAt(i);
            if ("tzcyx".indexOf(axis) < 0 || lower.indexOf(axis) != i) {
                throw new PixelserveException("The axis order '" + order + "' is not valid: give each of the "
                    + "letters t, z, c, y, x at most once, e.g. 'tzyxc'");
            }
        }
        for (char axis : "tzcyx".toCharArray()) {
            if (has(axis) && lower.indexOf(axis) < 0) {
                throw new PixelserveException("The axis order '" + order + "' leaves out '" + axis + "', which this "
                    + "image has (" + size(axis) + "): add it, e.g. '" + axes(ILASTIK_ORDER) + "'");
            }
        }
        String reduced = axes(lower);
        int inner = firstOf(reduced, "cyx");
        int outer = Math.max(reduced.indexOf('t'), reduced.indexOf('z'));
        if (outer > inner) {
            throw new PixelserveException("The axis order '" + order + "' puts '" + reduced.charAt(outer)
                + "' after c, y or x: put t and z first, e.g. '" + axes(ILASTIK_ORDER) + "'");
        }
        return reduced;
    }

    private static int firstOf(String text, String letters) {
        int first = Integer.MAX_VALUE;
        for (char letter : letters.toCharArray()) {
            int at = text.indexOf(letter);
            if (at >= 0) {
                first = Math.min(first, at);
            }
        }
        return first;
    }

    /** "512 x 512 pixels, 3 channels, 20 slices" and so on, for messages. */
    public String describe() {
        StringBuilder text = new StringBuilder(width + " x " + height + " pixels");
        if (rgb) {
            text.append(", RGB");
        } else if (channels > 1) {
            text.append(", ").append(channels).append(" channels");
        }
        if (slices > 1) {
            text.append(", ").append(slices).append(" slices");
        }
        if (frames > 1) {
            text.append(", ").append(frames).append(" frames");
        }
        return text.toString();
    }
}
