package org.pixelserve.fiji.image;

import ij.ImagePlus;
import ij.ImageStack;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.ArrayWriter;
import org.pixelserve.fiji.client.Chunker;
import org.pixelserve.fiji.client.JobMonitor;
import org.pixelserve.v1.ArrayHeader;

/**
 * Sends an ImageJ image as an array in a chosen axis order, one slice (all channels of one z
 * and t) at a time: planes are read from the stack as they are needed (a virtual stack loads
 * one slice at a time) and never copied whole. RGB images become 3 uint8 channels.
 */
public final class ImageArrayWriter implements ArrayWriter {
    private final ImagePlus image;
    private final ImageLayout layout;
    private final String axes;
    private final JobMonitor monitor;

    /** @param order the axes to send, e.g. "tzcyx" (ImageJ's plane order, the fastest) or "tzyxc" */
    public ImageArrayWriter(ImagePlus image, String order, JobMonitor monitor) throws PixelserveException {
        this.image = image;
        this.layout = ImageLayout.of(image);
        this.axes = layout.checkOrder(order);
        this.monitor = monitor == null ? JobMonitor.NONE : monitor;
    }

    public String axes() {
        return axes;
    }

    public ImageLayout layout() {
        return layout;
    }

    @Override
    public ArrayHeader header() {
        ArrayHeader.Builder header = ArrayHeader.newBuilder().setDtype(layout.dtype.proto).setAxes(axes);
        for (long size : layout.shape(axes)) {
            header.addShape(size);
        }
        return header.build();
    }

    @Override
    public void write(Chunker out) throws PixelserveException {
        ImageStack stack = image.getStack();
        String outer = axes.replaceAll("[cyx]", "");
        String inner = axes.replaceAll("[tz]", "");
        int count = outer.isEmpty() ? 1 : (int) product(layout.shape(outer));
        long sliceBytes = (long) layout.channels * layout.height * layout.width * layout.dtype.itemSize;
        int[] index = new int[outer.length()];
        for (int slice = 0; slice < count; slice++) {
            int t = outer.indexOf('t') >= 0 ? index[outer.indexOf('t')] : 0;
            int z = outer.indexOf('z') >= 0 ? index[outer.indexOf('z')] : 0;
            Object[] planes = channelPlanes(stack, z, t);
            if (inner.endsWith("yx")) {
                for (Object plane : planes) {
                    putPlane(out, plane);
                }
            } else {
                putInterleaved(out, planes, inner);
            }
            monitor.progress((slice + 1) * sliceBytes, count * sliceBytes, "sending");
            for (int axis = index.length - 1; axis >= 0; axis--) {  // odometer over t and z
                if (++index[axis] < layout.size(outer.charAt(axis))) {
                    break;
                }
                index[axis] = 0;
            }
        }
    }

    /** The pixel arrays of every channel of slice z of frame t (for RGB: red, green, blue). */
    private Object[] channelPlanes(ImageStack stack, int z, int t) {
        if (layout.rgb) {
            int[] rgb = (int[]) stack.getPixels(image.getStackIndex(1, z + 1, t + 1));
            byte[][] components = new byte[3][rgb.length];
            for (int i = 0; i < rgb.length; i++) {
                int pixel = rgb[i];
                components[0][i] = (byte) (pixel >> 16);
                components[1][i] = (byte) (pixel >> 8);
                components[2][i] = (byte) pixel;
            }
            return components;
        }
        Object[] planes = new Object[layout.channels];
        for (int c = 0; c < planes.length; c++) {
            planes[c] = stack.getPixels(image.getStackIndex(c + 1, z + 1, t + 1));
        }
        return planes;
    }

    private static void putPlane(Chunker out, Object plane) throws PixelserveException {
        if (plane instanceof byte[]) {
            out.putBytes((byte[]) plane, 0, ((byte[]) plane).length);
        } else if (plane instanceof short[]) {
            out.putShorts((short[]) plane, 0, ((short[]) plane).length);
        } else {
            out.putFloats((float[]) plane, 0, ((float[]) plane).length);
        }
    }

    /** c, y and x in any order (e.g. "yxc": the channels of each pixel side by side). */
    private void putInterleaved(Chunker out, Object[] planes, String inner) throws PixelserveException {
        int[] sizes = new int[3];
        int[] planeSteps = new int[3];
        int[] pixelSteps = new int[3];
        int padding = 3 - inner.length();
        for (int i = 0; i < 3; i++) {
            sizes[i] = 1;
        }
        for (int i = 0; i < inner.length(); i++) {
            char axis = inner.charAt(i);
            sizes[padding + i] = layout.size(axis);
            planeSteps[padding + i] = axis == 'c' ? 1 : 0;
            pixelSteps[padding + i] = axis == 'y' ? layout.width : axis == 'x' ? 1 : 0;
        }
        for (int a = 0; a < sizes[0]; a++) {
            for (int b = 0; b < sizes[1]; b++) {
                int plane = a * planeSteps[0] + b * planeSteps[1];
                int pixel = a * pixelSteps[0] + b * pixelSteps[1];
                for (int k = 0; k < sizes[2]; k++) {
                    Object array = planes[plane + k * planeSteps[2]];
                    int at = pixel + k * pixelSteps[2];
                    if (array instanceof byte[]) {
                        out.putByte(((byte[]) array)[at]);
                    } else if (array instanceof short[]) {
                        out.putShort(((short[]) array)[at]);
                    } else {
                        out.putFloat(((float[]) array)[at]);
                    }
                }
            }
        }
    }

    static long product(long[] values) {
        long product = 1;
        for (long value : values) {
            product *= value;
        }
        return product;
    }
}
