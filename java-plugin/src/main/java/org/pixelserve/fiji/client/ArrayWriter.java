package org.pixelserve.fiji.client;

import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.v1.ArrayHeader;

/** An array to send: its header, then its bytes in C order of the header's axes. */
public interface ArrayWriter {
    ArrayHeader header();

    /** Puts every byte of the array into {@code out} (without flushing it). */
    void write(Chunker out) throws PixelserveException;
}
