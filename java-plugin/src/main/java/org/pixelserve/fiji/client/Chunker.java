package org.pixelserve.fiji.client;

import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.pixelserve.fiji.PixelserveException;

/**
 * Packs little-endian values into chunks of at most {@code chunkBytes} bytes (rounded down to
 * whole 8-byte elements, so no value is split) and hands each full chunk to a sink. Only one
 * chunk is held at a time: an image of any size streams through a few megabytes.
 */
public final class Chunker {
    private final int capacity;
    private final ChunkSink sink;
    private byte[] buffer;
    private ByteBuffer view;
    private long bytesSent;

    public Chunker(int chunkBytes, ChunkSink sink) {
        if (chunkBytes < 8) {
            throw new IllegalArgumentException("chunks of " + chunkBytes + " bytes: give at least 8");
        }
        this.capacity = chunkBytes - chunkBytes % 8;
        this.sink = sink;
        fresh();
    }

    private void fresh() {
        buffer = new byte[capacity];  // each chunk gets its own array: it is sent without a copy
        view = ByteBuffer.wrap(buffer).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Bytes handed to the sink so far (after flush: all bytes put). */
    public long bytesSent() {
        return bytesSent;
    }

    private void room(int bytes) throws PixelserveException {
        if (view.remaining() < bytes) {
            flush();
        }
    }

    public void putByte(byte value) throws PixelserveException {
        room(1);
        view.put(value);
    }

    public void putShort(short value) throws PixelserveException {
        room(2);
        view.putShort(value);
    }

    public void putFloat(float value) throws PixelserveException {
        room(4);
        view.putFloat(value);
    }

    public void putBytes(byte[] values, int offset, int length) throws PixelserveException {
        while (length > 0) {
            room(1);
            int n = Math.min(length, view.remaining());
            view.put(values, offset, n);
            offset += n;
            length -= n;
        }
    }

    public void putShorts(short[] values, int offset, int length) throws PixelserveException {
        while (length > 0) {
            room(2);
            int n = Math.min(length, view.remaining() / 2);
            view.asShortBuffer().put(values, offset, n);
            view.position(view.position() + 2 * n);
            offset += n;
            length -= n;
        }
    }

    public void putFloats(float[] values, int offset, int length) throws PixelserveException {
        while (length > 0) {
            room(4);
            int n = Math.min(length, view.remaining() / 4);
            view.asFloatBuffer().put(values, offset, n);
            view.position(view.position() + 4 * n);
            offset += n;
            length -= n;
        }
    }

    /** Sends what is buffered (call once at the end). */
    public void flush() throws PixelserveException {
        int length = view.position();
        if (length == 0) {
            return;
        }
        byte[] full = buffer;
        fresh();
        bytesSent += length;
        sink.send(UnsafeByteOperations.unsafeWrap(full, 0, length));
    }
}
