package org.pixelserve.fiji.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;

/** Chunking: limits, element alignment, byte order. */
class ChunkerTest {
    @Test
    void chunksStayWithinTheLimitAndKeepElementsWhole() throws PixelserveException {
        List<ByteString> chunks = new ArrayList<>();
        Chunker chunker = new Chunker(1003, chunks::add);  // rounded down to 1000
        float[] values = new float[2600];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.5f;
        }
        chunker.putFloats(values, 0, values.length);
        chunker.putShort((short) -2);
        chunker.flush();
        int total = 0;
        for (ByteString chunk : chunks) {
            assertTrue(chunk.size() <= 1000, "chunk of " + chunk.size());
            total += chunk.size();
        }
        assertEquals(4 * values.length + 2, total);
        assertEquals(total, chunker.bytesSent());
        ByteBuffer all = ByteBuffer.wrap(ByteString.copyFrom(chunks).toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            assertEquals(value, all.getFloat());
        }
        assertEquals(-2, all.getShort());
        for (int i = 0; i < chunks.size() - 1; i++) {
            assertEquals(0, chunks.get(i).size() % 4, "a float was split");
        }
    }

    @Test
    void littleEndianShortsAndBytes() throws PixelserveException {
        List<ByteString> chunks = new ArrayList<>();
        Chunker chunker = new Chunker(8, chunks::add);
        chunker.putShorts(new short[] {0x0102, (short) 0xfffe, 3, 4, 5}, 1, 3);
        chunker.putBytes(new byte[] {9, 8, 7}, 0, 3);
        chunker.flush();
        assertEquals(2, chunks.size());
        assertArrayEquals(new byte[] {(byte) 0xfe, (byte) 0xff, 3, 0, 4, 0, 9, 8}, chunks.get(0).toByteArray());
        assertArrayEquals(new byte[] {7}, chunks.get(1).toByteArray());
    }

    @Test
    void emptyFlushSendsNothing() throws PixelserveException {
        List<ByteString> chunks = new ArrayList<>();
        new Chunker(64, chunks::add).flush();
        assertTrue(chunks.isEmpty());
    }
}
