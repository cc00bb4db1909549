package org.pixelserve.fiji.client;

import java.nio.ByteBuffer;
import org.pixelserve.fiji.PixelserveException;

/** Receives the bytes of one array, chunk after chunk, in C order of its header's axes. */
public interface ArrayReader {
    /** The next bytes (any length: an element may be split across chunks). */
    void accept(ByteBuffer data) throws PixelserveException;

    /** All chunks have arrived; throws if bytes are missing. */
    void finish() throws PixelserveException;
}
