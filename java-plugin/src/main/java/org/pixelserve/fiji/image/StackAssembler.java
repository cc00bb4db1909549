package org.pixelserve.fiji.image;

import ij.CompositeImage;
import ij.ImagePlus;
import ij.ImageStack;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;
import org.pixelserve.fiji.client.ArrayReader;
import org.pixelserve.fiji.client.DType;
import org.pixelserve.fiji.client.ProtocolException;
import org.pixelserve.v1.ArrayHeader;

/**
 * Builds an ImageJ image from an array that arrives in chunks, in any axis order of "tzyxc".
 * Values go straight into the image's planes as they arrive (no copy of the whole array):
 * uint8 into 8-bit, uint16 into 16-bit, every other type into 32-bit float planes. Axes
 * missing from the array have size 1, so a "yx" array gives a 2D image and "zyxc" a stack of
 * channels and slices.
 */
public final class StackAssembler implements ArrayReader {
    private final DType dtype;
    private final int[] sizes;
    private final int[] planeSteps;
    private final int[] pixelSteps;
    private final int width;
    private final int height;
    private final int channels;
    private final int slices;
    private final int frames;
    private final Object[] planes;
    private final int[] index;
    private final long total;
    private long received;
    private int plane;
    private int pixel;
    private final byte[] carry = new byte[8];
    private int carried;

    public StackAssembler(ArrayHeader header) throws ProtocolException {
        dtype = DType.of(header);
        String axes = header.getAxes().toLowerCase(Locale.ROOT);
        if (axes.length() != header.getShapeCount() || axes.isEmpty()) {
            throw new ProtocolException("The array has the axes '" + header.getAxes() + "' for "
                + header.getShapeCount() + " dimensions: the server must name one axis per dimension");
        }
        for (int i = 0; i < axes.length(); i++) {
            char axis = axes.charAt(i);
            if ("tzyxc".indexOf(axis) < 0 || axes.indexOf(axis) != i) {
                throw new ProtocolException("The array has the axes '" + header.getAxes() + "': only t, z, y, x, c, once each, are valid");
            }
        }
        if (axes.indexOf('x') < 0 || axes.indexOf('y') < 0) {
            throw new ProtocolException("The array has the axes '" + header.getAxes() + "' without both y and x: "
                + "ImageJ shows images of at least y and x (read it with the right axes, e.g. axes=zyx)");
        }
        width = size(header, axes, 'x');
        height = size(header, axes, 'y');
        channels = size(header, axes, 'c');
        slices = size(header, axes, 'z');
        frames = size(header, axes, 't');
        long planeCount = (long) channels * slices * frames;
        if ((long) width * height > Integer.MAX_VALUE || planeCount > Integer.MAX_VALUE) {
            throw new ProtocolException("An image of " + width + " x " + height + " pixels and " + planeCount
                + " planes is beyond what ImageJ can hold (2^31 pixels per plane and planes per stack)");
        }
        int n = axes.length();
        sizes = new int[n];
        planeSteps = new int[n];
        pixelSteps = new int[n];
        for (int i = 0; i < n; i++) {
            char axis = axes.charAt(i);
            sizes[i] = (int) header.getShape(i);
            planeSteps[i] = axis == 'c' ? 1 : axis == 'z' ? channels : axis == 't' ? channels * slices : 0;
            pixelSteps[i] = axis == 'y' ? width : axis == 'x' ? 1 : 0;
        }
        index = new int[n];
        total = (long) width * height * planeCount;
        planes = new Object[(int) planeCount];
        int pixels = width * height;
        for (int p = 0; p < planes.length; p++) {
            planes[p] = dtype == DType.UINT8 ? new byte[pixels] : dtype == DType.UINT16 ? new short[pixels] : new float[pixels];
        }
    }

    private static int size(ArrayHeader header, String axes, char axis) throws ProtocolException {
        int at = axes.indexOf(axis);
        if (at < 0) {
            return 1;
        }
        long size = header.getShape(at);
        if (size < 1 || size > Integer.MAX_VALUE) {
            throw new ProtocolException("The array is " + size + " long along " + axis + ": ImageJ cannot hold that");
        }
        return (int) size;
    }

    public DType dtype() {
        return dtype;
    }

    public int channels() {
        return channels;
    }

    public boolean complete() {
        return received == total;
    }

    @Override
    public void accept(ByteBuffer data) throws ProtocolException {
        data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        int item = dtype.itemSize;
        if (carried > 0) {  // an element split across chunks
            int take = Math.min(item - carried, data.remaining());
            data.get(carry, carried, take);
            carried += take;
            if (carried < item) {
                return;
            }
            carried = 0;
            checkRoom(1);
            store(ByteBuffer.wrap(carry, 0, item).order(ByteOrder.LITTLE_ENDIAN), 1);
        }
        while (data.remaining() >= item) {
            int last = sizes.length - 1;
            int count = Math.min(sizes[last] - index[last], data.remaining() / item);
            checkRoom(count);
            store(data, count);
        }
        carried = data.remaining();
        data.get(carry, 0, carried);
    }

    private void checkRoom(long count) throws ProtocolException {
        if (received + count > total) {
            throw new ProtocolException("The server sent more data than the array's header announced ("
                + total + " values of " + dtype.numpyName() + ")");
        }
    }

    /** Stores {@code count} values along the innermost axis, then moves the position on. */
    private void store(ByteBuffer data, int count) {
        int last = sizes.length - 1;
        Object target = planes[plane];
        if (planeSteps[last] == 0 && pixelSteps[last] == 1 && dtype.itemSize == bytesPerPixel(target)
                && (dtype == DType.UINT8 || dtype == DType.UINT16 || dtype == DType.FLOAT32)) {
            bulk(data, target, pixel, count);  // x innermost: a run of a row, copied as it is
        } else {
            int p = plane;
            int at = pixel;
            for (int k = 0; k < count; k++) {
                Object array = planes[p];
                if (array instanceof byte[]) {
                    ((byte[]) array)[at] = data.get();
                } else if (array instanceof short[]) {
                    ((short[]) array)[at] = data.getShort();
                } else {
                    ((float[]) array)[at] = (float) dtype.read(data);
                }
                p += planeSteps[last];
                at += pixelSteps[last];
            }
        }
        received += count;
        index[last] += count;
        plane += count * planeSteps[last];
        pixel += count * pixelSteps[last];
        if (index[last] == sizes[last]) {
            advance();
        }
    }

    private static int bytesPerPixel(Object array) {
        return array instanceof byte[] ? 1 : array instanceof short[] ? 2 : 4;
    }

    private static void bulk(ByteBuffer data, Object target, int offset, int count) {
        if (target instanceof byte[]) {
            data.get((byte[]) target, offset, count);
        } else if (target instanceof short[]) {
            data.asShortBuffer().get((short[]) target, offset, count);
            data.position(data.position() + 2 * count);
        } else {
            data.asFloatBuffer().get((float[]) target, offset, count);
            data.position(data.position() + 4 * count);
        }
    }

    /** Carries the odometer over the outer axes once the innermost one is done. */
    private void advance() {
        for (int axis = sizes.length - 1; axis >= 0; axis--) {
            if (axis < sizes.length - 1) {
                index[axis]++;
            }
            if (index[axis] < sizes[axis]) {
                break;
            }
            if (axis > 0) {
                index[axis] = 0;
            }
        }
        plane = 0;
        pixel = 0;
        for (int axis = 0; axis < sizes.length; axis++) {
            plane += index[axis] * planeSteps[axis];
            pixel += index[axis] * pixelSteps[axis];
        }
    }

    @Override
    public void finish() throws ProtocolException {
        if (carried > 0 || received != total) {
            throw new ProtocolException("The array ended after " + received + " of " + total
                + " values: the server stopped sending early");
        }
    }

    /**
     * The image, titled {@code title}: channels as a composite (or color) hyperstack when there
     * are several. The planes are the image's own; call once.
     */
    public ImagePlus toImage(String title, int compositeMode) {
        ImageStack stack = new ImageStack(width, height);
        for (Object pixels : planes) {
            stack.addSlice(null, pixels);
        }
        ImagePlus image = new ImagePlus(title, stack);
        image.setDimensions(channels, slices, frames);
        if (channels * slices * frames > 1 && (channels > 1 ? 1 : 0) + (slices > 1 ? 1 : 0) + (frames > 1 ? 1 : 0) > 1) {
            image.setOpenAsHyperStack(true);
        }
        if (channels > 1) {
            image.setOpenAsHyperStack(true);
            image = new CompositeImage(image, compositeMode);
        }
        return image;
    }
}
