package org.pixelserve.fiji.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.IJ;
import ij.ImagePlus;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.DType;

/** Axes mapping: which axes an ImageJ image sends, in which order, with which shape. */
class ImageLayoutTest {
    static ImagePlus hyperstack(String type, int width, int height, int c, int z, int t) {
        return IJ.createImage("h", type, width, height, c, z, t);
    }

    @Test
    void grayscale2dIsYx() {
        ImageLayout layout = ImageLayout.of(IJ.createImage("a", "8-bit", 30, 20, 1));
        assertEquals("yx", layout.axes(ImageLayout.IMAGEJ_ORDER));
        assertArrayEquals(new long[] {20, 30}, layout.shape("yx"));
        assertEquals(2, layout.spatialDims());
        assertEquals(DType.UINT8, layout.dtype);
    }

    @Test
    void rgbIsThreeUint8Channels() {
        ImageLayout layout = ImageLayout.of(IJ.createImage("a", "RGB", 30, 20, 1));
        assertTrue(layout.rgb);
        assertEquals(3, layout.channels);
        assertEquals(DType.UINT8, layout.dtype);
        assertEquals("cyx", layout.axes(ImageLayout.IMAGEJ_ORDER));
        assertEquals("yxc", layout.axes(ImageLayout.ILASTIK_ORDER));
    }

    @Test
    void hyperstackKeepsOnlyItsAxes() {
        assertEquals("tzcyx", ImageLayout.of(hyperstack("16-bit", 8, 6, 2, 3, 4)).axes(ImageLayout.IMAGEJ_ORDER));
        assertEquals("zyx", ImageLayout.of(hyperstack("32-bit", 8, 6, 1, 3, 1)).axes(ImageLayout.IMAGEJ_ORDER));
        assertEquals("tyx", ImageLayout.of(hyperstack("32-bit", 8, 6, 1, 1, 5)).axes(ImageLayout.IMAGEJ_ORDER));
        assertEquals("tcyx", ImageLayout.of(hyperstack("8-bit", 8, 6, 2, 1, 5)).axes(ImageLayout.IMAGEJ_ORDER));
        ImageLayout layout = ImageLayout.of(hyperstack("16-bit", 8, 6, 2, 3, 4));
        assertEquals("tzyxc", layout.axes(ImageLayout.ILASTIK_ORDER));
        assertArrayEquals(new long[] {4, 3, 6, 8, 2}, layout.shape("tzyxc"));
        assertEquals(3, layout.spatialDims());
        assertEquals(4L * 3 * 2 * 6 * 8 * 2, layout.bytes());
    }

    @Test
    void exportOrdersAreChecked() throws PixelserveException {
        ImageLayout layout = ImageLayout.of(hyperstack("8-bit", 8, 6, 2, 3, 1));
        assertEquals("zyxc", layout.checkOrder("tzyxc"));
        assertEquals("zcyx", layout.checkOrder("TZCYX"));
        assertEquals("zxyc", layout.checkOrder("zxyc"));
        PixelserveException missing = assertThrows(PixelserveException.class, () -> layout.checkOrder("zyx"));
        assertTrue(missing.getMessage().contains("leaves out 'c'"), missing.getMessage());
        PixelserveException late = assertThrows(PixelserveException.class, () -> layout.checkOrder("yxzc"));
        assertTrue(late.getMessage().contains("put t and z first"), late.getMessage());
        assertThrows(PixelserveException.class, () -> layout.checkOrder("zyxcc"));
        assertThrows(PixelserveException.class, () -> layout.checkOrder("zyxq"));
    }
}
