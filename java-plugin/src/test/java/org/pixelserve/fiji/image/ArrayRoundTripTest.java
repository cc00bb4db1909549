package org.pixelserve.fiji.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import ij.IJ;
import ij.ImagePlus;
import ij.process.ImageProcessor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.Chunker;
import org.pixelserve.fiji.client.JobMonitor;
import org.pixelserve.fiji.client.ProtocolException;
import org.pixelserve.v1.ArrayHeader;

/** Images out as arrays in any order, and arrays back in as images, through odd chunkings. */
class ArrayRoundTripTest {
    /** A hyperstack whose every value says where it is. */
    static ImagePlus numbered(String type, int width, int height, int c, int z, int t) {
        ImagePlus image = IJ.createImage("numbered", type, width, height, c, z, t);
        for (int n = 1; n <= image.getStackSize(); n++) {
            ImageProcessor plane = image.getStack().getProcessor(n);
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    plane.putPixelValue(x, y, ((n * 7 + y * 3 + x) % 250) + (type.equals("32-bit") ? 0.25 : 0));
                }
            }
        }
        return image;
    }

    static byte[] bytesOf(ImageArrayWriter writer, int chunkBytes) throws PixelserveException {
        List<ByteString> chunks = new ArrayList<>();
        Chunker chunker = new Chunker(chunkBytes, chunks::add);
        writer.write(chunker);
        chunker.flush();
        return ByteString.copyFrom(chunks).toByteArray();
    }

    /** Feeds bytes in pieces of {@code piece} bytes (elements split across pieces on purpose). */
    static StackAssembler assemble(ArrayHeader header, byte[] bytes, int piece) throws ProtocolException {
        StackAssembler assembler = new StackAssembler(header);
        for (int at = 0; at < bytes.length; at += piece) {
            assembler.accept(ByteBuffer.wrap(bytes, at, Math.min(piece, bytes.length - at)));
        }
        assembler.finish();
        return assembler;
    }

    @ParameterizedTest
    @CsvSource({
        "8-bit, tzcyx", "8-bit, tzyxc", "16-bit, tzcyx", "16-bit, ztyxc", "32-bit, tzcyx", "32-bit, tzxyc",
        "32-bit, tzycx", "16-bit, tzcxy"})
    void hyperstacksSurviveEveryOrder(String type, String order) throws PixelserveException {
        ImagePlus image = numbered(type, 7, 5, 2, 3, 2);
        ImageArrayWriter writer = new ImageArrayWriter(image, order, JobMonitor.NONE);
        byte[] bytes = bytesOf(writer, 64);
        assertEquals(image.getStackSize() * 7 * 5 * image.getBytesPerPixel(), bytes.length);
        ImagePlus back = assemble(writer.header(), bytes, 13).toImage("back", IJ.COMPOSITE);
        assertEquals(2, back.getNChannels());
        assertEquals(3, back.getNSlices());
        assertEquals(2, back.getNFrames());
        assertEquals(image.getBitDepth(), back.getBitDepth());
        for (int n = 1; n <= image.getStackSize(); n++) {
            float[] expected = (float[]) image.getStack().getProcessor(n).convertToFloatProcessor().getPixels();
            float[] actual = (float[]) back.getStack().getProcessor(n).convertToFloatProcessor().getPixels();
            assertArrayEquals(expected, actual, "plane " + n + " in order " + order);
        }
    }

    @Test
    void elementOrderFollowsTheAxes() throws PixelserveException {
        ImagePlus image = numbered("16-bit", 3, 2, 2, 1, 1);
        ImageArrayWriter interleaved = new ImageArrayWriter(image, "yxc", JobMonitor.NONE);
        assertEquals("yxc", interleaved.header().getAxes());
        assertEquals(java.util.Arrays.asList(2L, 3L, 2L), interleaved.header().getShapeList());
        ByteBuffer bytes = ByteBuffer.wrap(bytesOf(interleaved, 8)).order(ByteOrder.LITTLE_ENDIAN);
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 3; x++) {
                for (int c = 1; c <= 2; c++) {
                    assertEquals(image.getStack().getProcessor(c).get(x, y), bytes.getShort() & 0xffff);
                }
            }
        }
    }

    @Test
    void rgbSendsRedGreenBluePlanes() throws PixelserveException {
        ImagePlus image = IJ.createImage("rgb", "RGB", 2, 1, 1);
        image.getProcessor().set(0, 0, 0x102030);
        image.getProcessor().set(1, 0, 0xa0b0c0);
        ImageArrayWriter writer = new ImageArrayWriter(image, ImageLayout.IMAGEJ_ORDER, JobMonitor.NONE);
        assertEquals("cyx", writer.header().getAxes());
        assertEquals(org.pixelserve.v1.DType.DTYPE_UINT8, writer.header().getDtype());
        assertArrayEquals(new byte[] {0x10, (byte) 0xa0, 0x20, (byte) 0xb0, 0x30, (byte) 0xc0}, bytesOf(writer, 8));
        ImageArrayWriter interleaved = new ImageArrayWriter(image, ImageLayout.ILASTIK_ORDER, JobMonitor.NONE);
        assertArrayEquals(new byte[] {0x10, 0x20, 0x30, (byte) 0xa0, (byte) 0xb0, (byte) 0xc0}, bytesOf(interleaved, 8));
    }

    @Test
    void uploadReportsProgressPerSlice() throws PixelserveException {
        List<long[]> reports = new ArrayList<>();
        JobMonitor monitor = new JobMonitor() {
            @Override
            public void progress(long done, long total, String phase) {
                reports.add(new long[] {done, total});
            }

            @Override
            public boolean isCancelled() {
                return false;
            }
        };
        bytesOf(new ImageArrayWriter(numbered("8-bit", 4, 4, 1, 5, 1), "zyx", monitor), 1024);
        assertEquals(5, reports.size());
        assertEquals(80, reports.get(4)[0]);
        assertEquals(80, reports.get(4)[1]);
    }

    @Test
    void tooManyOrTooFewBytesAreRefused() throws ProtocolException {
        ArrayHeader header = ArrayHeader.newBuilder().setDtype(org.pixelserve.v1.DType.DTYPE_UINT8)
            .addShape(2).addShape(2).setAxes("yx").build();
        StackAssembler short1 = new StackAssembler(header);
        short1.accept(ByteBuffer.wrap(new byte[3]));
        assertThrows(ProtocolException.class, short1::finish);
        StackAssembler long1 = new StackAssembler(header);
        assertThrows(ProtocolException.class, () -> long1.accept(ByteBuffer.wrap(new byte[5])));
        ArrayHeader noX = header.toBuilder().setAxes("zy").build();
        ProtocolException error = assertThrows(ProtocolException.class, () -> new StackAssembler(noX));
        assertTrue(error.getMessage().contains("without both y and x"), error.getMessage());
    }
}
