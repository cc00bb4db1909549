package org.pixelserve.fiji.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import ij.IJ;
import ij.ImagePlus;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.CancelledException;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.image.ImageArrayWriter;
import org.pixelserve.fiji.image.StackAssembler;
import org.pixelserve.v1.ArrayHeader;
import org.pixelserve.v1.Chunk;
import org.pixelserve.v1.DType;
import org.pixelserve.v1.PredictHeader;
import org.pixelserve.v1.PredictRequest;
import org.pixelserve.v1.PredictResponse;
import org.pixelserve.v1.PredictionServiceGrpc;
import org.pixelserve.v1.Progress;
import org.pixelserve.v1.ResultHeader;
import org.pixelserve.v1.RoleInput;
import org.pixelserve.v1.ServerInfo;
import org.pixelserve.v1.ServerInfoRequest;
import org.pixelserve.v1.ServerServiceGrpc;
import org.pixelserve.v1.TableColumn;
import org.pixelserve.v1.TableHeader;

/** The client against a fake server on loopback: streaming limits, progress, cancel, errors, tokens. */
class PixelserveClientTest {
    static final int CHUNK = 1000;
    static final String TOKEN = "a-token-of-at-least-16-chars";

    private Server server;
    private PixelserveClient client;
    private final List<Integer> chunkSizes = Collections.synchronizedList(new ArrayList<>());
    private final CountDownLatch cancelled = new CountDownLatch(1);
    private volatile String mode = "echo";

    @BeforeEach
    void start() throws Exception {
        ServerInterceptor auth = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                String given = headers.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER));
                if (!("Bearer " + TOKEN).equals(given)) {
                    call.close(Status.UNAUTHENTICATED.withDescription("Missing or wrong token"), new Metadata());
                    return new ServerCall.Listener<Q>() { };
                }
                return next.startCall(call, headers);
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(ServerInterceptors.intercept(new FakeInfo(), auth))
            .addService(ServerInterceptors.intercept(new FakePrediction(), auth))
            .build().start();
        client = new PixelserveClient("127.0.0.1", server.getPort(), TOKEN);
    }

    @AfterEach
    void stop() {
        client.close();
        server.shutdownNow();
    }

    final class FakeInfo extends ServerServiceGrpc.ServerServiceImplBase {
        @Override
        public void getServerInfo(ServerInfoRequest request, StreamObserver<ServerInfo> responses) {
            responses.onNext(ServerInfo.newBuilder().setVersion("test").setMaxChunkBytes(CHUNK)
                .addWorkflows("Pixel Classification").build());
            responses.onCompleted();
        }
    }

    /** Echoes the first input, as float32 "yx", after a progress report. */
    final class FakePrediction extends PredictionServiceGrpc.PredictionServiceImplBase {
        @Override
        public StreamObserver<PredictRequest> predict(StreamObserver<PredictResponse> responses) {
            ServerCallStreamObserver<PredictResponse> call = (ServerCallStreamObserver<PredictResponse>) responses;
            call.setOnCancelHandler(cancelled::countDown);
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            ArrayHeader[] input = new ArrayHeader[1];
            return new StreamObserver<PredictRequest>() {
                @Override
                public void onNext(PredictRequest request) {
                    if (request.hasHeader()) {
                        input[0] = request.getHeader().getInputs(0).getArray();
                        responses.onNext(progress(0, 10, "loading project"));
                        if (mode.equals("fail")) {
                            responses.onError(Status.FAILED_PRECONDITION.withDescription("The project is broken: fix it").asRuntimeException());
                        }
                        return;
                    }
                    chunkSizes.add(request.getChunk().getData().size());
                    byte[] data = request.getChunk().getData().toByteArray();
                    received.write(data, 0, data.length);
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    if (mode.equals("hang")) {
                        responses.onNext(progress(1, 10, "computing"));
                        return;  // until the client cancels
                    }
                    responses.onNext(progress(10, 10, "computing"));
                    byte[] bytes = received.toByteArray();
                    java.nio.ByteBuffer out = java.nio.ByteBuffer.allocate(bytes.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    for (byte b : bytes) {
                        out.putFloat((b & 0xff) / 255f);
                    }
                    responses.onNext(PredictResponse.newBuilder().setResult(ResultHeader.newBuilder()
                        .setArray(input[0].toBuilder().setDtype(DType.DTYPE_FLOAT32)).setExportSource("Probabilities")).build());
                    send(responses, 0, out.array(), CHUNK);
                    if (mode.equals("tables")) {
                        sendTable(responses);
                    }
                    responses.onCompleted();
                }
            };
        }
    }

    static void send(StreamObserver<PredictResponse> responses, int index, byte[] all, int chunk) {
        for (int at = 0; at < all.length; at += chunk) {
            responses.onNext(PredictResponse.newBuilder().setChunk(Chunk.newBuilder().setArrayIndex(index)
                .setData(ByteString.copyFrom(all, at, Math.min(chunk, all.length - at)))).build());
        }
    }

    /** A table of 3 rows: int64 ids, float32 sizes, a text column as int32 codes; chunks split values. */
    static void sendTable(StreamObserver<PredictResponse> responses) {
        responses.onNext(PredictResponse.newBuilder().setResult(ResultHeader.newBuilder().setTable(TableHeader.newBuilder()
            .setName("objects").setRows(3)
            .addColumns(TableColumn.newBuilder().setName("object_id").setDtype(DType.DTYPE_INT64))
            .addColumns(TableColumn.newBuilder().setName("size").setDtype(DType.DTYPE_FLOAT32))
            .addColumns(TableColumn.newBuilder().setName("kind").setDtype(DType.DTYPE_INT32).setText(true)
                .addCategories("large").addCategories("small")))).build());
        java.nio.ByteBuffer ids = java.nio.ByteBuffer.allocate(24).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ids.putLong(1).putLong(2).putLong(1L << 40);
        java.nio.ByteBuffer sizes = java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        sizes.putFloat(2.5f).putFloat(20f).putFloat(0.125f);
        java.nio.ByteBuffer kinds = java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        kinds.putInt(1).putInt(0).putInt(1);
        send(responses, 0, ids.array(), 5);
        send(responses, 1, sizes.array(), 7);
        send(responses, 2, kinds.array(), 12);
    }

    static PredictResponse progress(long done, long total, String phase) {
        return PredictResponse.newBuilder().setProgress(Progress.newBuilder().setDone(done).setTotal(total).setPhase(phase)).build();
    }

    static final class Recorder implements JobMonitor {
        final List<String> phases = Collections.synchronizedList(new ArrayList<>());
        final AtomicBoolean cancel = new AtomicBoolean();

        @Override
        public void progress(long done, long total, String phase) {
            phases.add(phase + " " + done + "/" + total);
        }

        @Override
        public boolean isCancelled() {
            return cancel.get();
        }
    }

    private Prediction predict(ImagePlus image, Recorder monitor, StackAssembler[] result) throws PixelserveException {
        ImageArrayWriter writer = new ImageArrayWriter(image, "tzcyx", monitor);
        PredictHeader header = PredictHeader.newBuilder().setProject("p.ilp")
            .addInputs(RoleInput.newBuilder().setArray(writer.header())).build();
        Map<Integer, ArrayWriter> arrays = new LinkedHashMap<>();
        arrays.put(0, writer);
        return client.predict(header, arrays, h -> result[0] = new StackAssembler(h.getArray()), monitor);
    }

    @Test
    void predictStreamsWithinTheServersChunkLimit() throws PixelserveException {
        ImagePlus image = IJ.createImage("in", "8-bit ramp", 64, 48, 1);
        Recorder monitor = new Recorder();
        StackAssembler[] result = new StackAssembler[1];
        Prediction prediction = predict(image, monitor, result);
        assertEquals("Probabilities", prediction.image.getExportSource());
        assertTrue(prediction.tables.isEmpty());
        assertEquals(64 * 48, chunkSizes.stream().mapToInt(Integer::intValue).sum());
        assertTrue(chunkSizes.stream().allMatch(size -> size <= CHUNK), chunkSizes.toString());
        assertTrue(monitor.phases.contains("computing 10/10"), monitor.phases.toString());
        assertTrue(monitor.phases.contains("sending 3072/3072"), monitor.phases.toString());
        ImagePlus back = result[0].toImage("out", IJ.COMPOSITE);
        assertEquals(32, back.getBitDepth());
        float[] expected = new float[64 * 48];
        byte[] pixels = (byte[]) image.getProcessor().getPixels();
        for (int i = 0; i < expected.length; i++) {
            expected[i] = (pixels[i] & 0xff) / 255f;
        }
        assertArrayEquals(expected, (float[]) back.getProcessor().getPixels());
    }

    @Test
    void tablesFollowTheImageColumnByColumn() throws PixelserveException {
        mode = "tables";
        StackAssembler[] result = new StackAssembler[1];
        Prediction prediction = predict(IJ.createImage("in", "8-bit ramp", 8, 4, 1), new Recorder(), result);
        assertTrue(result[0].complete());
        assertEquals(1, prediction.tables.size());
        Table table = prediction.tables.get(0);
        assertEquals("objects", table.name);
        assertEquals(3, table.rows);
        assertArrayEquals(new double[] {1, 2, 1L << 40}, table.columns.get(0).numbers);
        assertArrayEquals(new double[] {2.5, 20, 0.125}, table.columns.get(1).numbers);
        assertArrayEquals(new String[] {"small", "large", "small"}, table.columns.get(2).texts);
        assertEquals("kind", table.columns.get(2).name);
    }

    @Test
    void cancellingStopsTheServersJob() throws Exception {
        mode = "hang";
        Recorder monitor = new Recorder();
        Thread canceller = new Thread(() -> {
            while (!monitor.phases.contains("computing 1/10")) {
                IJ.wait(10);
            }
            monitor.cancel.set(true);
        });
        canceller.start();
        long started = System.nanoTime();
        assertThrows(CancelledException.class, () -> predict(IJ.createImage("in", "8-bit", 16, 16, 1), monitor, new StackAssembler[1]));
        assertTrue(cancelled.await(5, TimeUnit.SECONDS), "the server never saw the cancellation");
        assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(5));
    }

    @Test
    void theServersMessageIsTheError() {
        mode = "fail";
        ServerException error = assertThrows(ServerException.class,
            () -> predict(IJ.createImage("in", "8-bit", 512, 512, 1), new Recorder(), new StackAssembler[1]));
        assertEquals("The project is broken: fix it", error.getMessage());
        assertEquals(Status.Code.FAILED_PRECONDITION, error.code());
    }

    @Test
    void aWrongTokenIsRefusedWithTheServersMessage() {
        try (PixelserveClient wrong = new PixelserveClient("127.0.0.1", server.getPort(), "wrong")) {
            ServerException error = assertThrows(ServerException.class, wrong::serverInfo);
            assertEquals(Status.Code.UNAUTHENTICATED, error.code());
            assertTrue(error.getMessage().contains("token"), error.getMessage());
        }
    }

    @Test
    void anAbsentServerIsExplained() throws Exception {
        int port;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        try (PixelserveClient absent = new PixelserveClient("127.0.0.1", port, "")) {
            ServerException error = assertThrows(ServerException.class, absent::serverInfo);
            assertEquals(Status.Code.UNAVAILABLE, error.code());
            assertTrue(error.getMessage().startsWith("Cannot reach the pixelserve server at 127.0.0.1:" + port), error.getMessage());
        }
    }

    @Test
    void chunkSizeFollowsTheServer() throws PixelserveException {
        assertEquals(CHUNK, client.chunkBytes());
    }
}
