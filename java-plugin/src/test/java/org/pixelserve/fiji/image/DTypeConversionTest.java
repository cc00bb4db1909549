package org.pixelserve.fiji.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.DType;
import org.pixelserve.v1.ArrayHeader;

/** dtype conversion: every protocol type into the ImageJ type the docs promise. */
class DTypeConversionTest {
    static ImagePlus decode(DType type, ByteBuffer values, long... shape) throws PixelserveException {
        ArrayHeader.Builder header = ArrayHeader.newBuilder().setDtype(type.proto).setAxes("yx");
        for (long size : shape) {
            header.addShape(size);
        }
        StackAssembler assembler = new StackAssembler(header.build());
        values.flip();
        assembler.accept(values);
        assembler.finish();
        return assembler.toImage("t", ij.IJ.COMPOSITE);
    }

    static ByteBuffer buffer(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void eightAndSixteenBitsStayAsTheyAre() throws PixelserveException {
        ImagePlus bytes = decode(DType.UINT8, buffer(2).put((byte) 0).put((byte) 255), 1, 2);
        assertEquals(8, bytes.getBitDepth());
        assertEquals(255, bytes.getProcessor().get(1, 0));
        ImagePlus shorts = decode(DType.UINT16, buffer(4).putShort((short) 1).putShort((short) 65535), 1, 2);
        assertEquals(16, shorts.getBitDepth());
        assertEquals(65535, shorts.getProcessor().get(1, 0));
    }

    @Test
    void everythingElseBecomes32BitFloatWithItsValue() throws PixelserveException {
        assertFloat(DType.INT8, buffer(2).put((byte) -128).put((byte) 127), -128, 127);
        assertFloat(DType.INT16, buffer(4).putShort((short) -32768).putShort((short) 32767), -32768, 32767);
        assertFloat(DType.UINT32, buffer(8).putInt(-1).putInt(7), 4294967295.0, 7);
        assertFloat(DType.INT32, buffer(8).putInt(-5).putInt(1 << 20), -5, 1 << 20);
        assertFloat(DType.UINT64, buffer(16).putLong(-1L).putLong(42), 18446744073709551615.0, 42);
        assertFloat(DType.INT64, buffer(16).putLong(-3).putLong(1L << 40), -3, 1L << 40);
        assertFloat(DType.FLOAT32, buffer(8).putFloat(0.25f).putFloat(-1e30f), 0.25, -1e30);
        assertFloat(DType.FLOAT64, buffer(16).putDouble(0.5).putDouble(1e-3), 0.5, 1e-3);
        assertTrue(DType.UINT32.mayLosePrecision() && !DType.INT16.mayLosePrecision());
    }

    static void assertFloat(DType type, ByteBuffer values, double first, double second) throws PixelserveException {
        ImagePlus image = decode(type, values, 1, 2);
        assertEquals(32, image.getBitDepth(), type.name());
        assertEquals((float) first, image.getProcessor().getf(0, 0), type.name());
        assertEquals((float) second, image.getProcessor().getf(1, 0), type.name());
    }

    @Test
    void imagejTypesMapToProtocolTypes() {
        assertEquals(DType.UINT8, DType.ofBitDepth(8));
        assertEquals(DType.UINT8, DType.ofBitDepth(24));
        assertEquals(DType.UINT16, DType.ofBitDepth(16));
        assertEquals(DType.FLOAT32, DType.ofBitDepth(32));
        assertEquals("float32", DType.FLOAT32.numpyName());
    }
}
