package org.pixelserve.fiji.client;

import com.google.protobuf.ByteString;
import org.pixelserve.fiji.PixelserveException;

/** Where a Chunker sends each full chunk (a gRPC call, or a list in the tests). */
public interface ChunkSink {
    void send(ByteString data) throws PixelserveException;
}
