package org.pixelserve.fiji.client;

import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.concurrent.TimeUnit;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.v1.BatchRequest;
import org.pixelserve.v1.BatchResponse;
import org.pixelserve.v1.BatchServiceGrpc;
import org.pixelserve.v1.BatchSummary;
import org.pixelserve.v1.Chunk;
import org.pixelserve.v1.DatasetInfo;
import org.pixelserve.v1.DatasetServiceGrpc;
import org.pixelserve.v1.ListDatasetsRequest;
import org.pixelserve.v1.PredictHeader;
import org.pixelserve.v1.PredictRequest;
import org.pixelserve.v1.PredictResponse;
import org.pixelserve.v1.PredictionServiceGrpc;
import org.pixelserve.v1.ProjectInfo;
import org.pixelserve.v1.ProjectInfoRequest;
import org.pixelserve.v1.ProjectServiceGrpc;
import org.pixelserve.v1.Progress;
import org.pixelserve.v1.ReadDatasetRequest;
import org.pixelserve.v1.ReadDatasetResponse;
import org.pixelserve.v1.ResultHeader;
import org.pixelserve.v1.ServerInfo;
import org.pixelserve.v1.ServerInfoRequest;
import org.pixelserve.v1.ServerServiceGrpc;
import org.pixelserve.v1.TrainHeader;
import org.pixelserve.v1.TrainRequest;
import org.pixelserve.v1.TrainResponse;
import org.pixelserve.v1.TrainingServiceGrpc;
import org.pixelserve.v1.WriteDatasetHeader;
import org.pixelserve.v1.WriteDatasetRequest;
import org.pixelserve.v1.WriteDatasetResponse;

/** Calls a pixelserve server (proto/pixelserve/v1): the Java twin of python/pixelserve/client.py. */
public final class PixelserveClient implements AutoCloseable {
    /** The protocol's chunk size ("a few MB"); the server may allow less (ServerInfo.max_chunk_bytes). */
    public static final int DEFAULT_CHUNK_BYTES = 4 << 20;
    private static final long INFO_SECONDS = 10;
    private static final long PROJECT_SECONDS = 300;  // a cold project loads before it answers

    private final String target;
    private final ManagedChannel channel;
    private final Channel calls;
    private volatile ServerInfo serverInfo;

    public PixelserveClient(String host, int port, String token) {
        this.target = host + ":" + port;
        // A resolved address: no name resolver is looked up (Fiji's class loaders make that fragile).
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress(host, port))
            .usePlaintext()
            .maxInboundMessageSize(64 << 20)
            // A server machine that vanishes (no reset) fails a running call instead of hanging it;
            // gRPC servers refuse pings more often than every 5 minutes by default.
            .keepAliveTime(6, TimeUnit.MINUTES)
            .keepAliveTimeout(30, TimeUnit.SECONDS)
            .build();
        if (token != null && !token.isEmpty()) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
            calls = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
        } else {
            calls = channel;
        }
    }

    public String target() {
        return target;
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    // -- unary calls -------------------------------------------------------------------------

    public ServerInfo serverInfo() throws ServerException {
        return serverInfo(INFO_SECONDS);
    }

    public ServerInfo serverInfo(long timeoutSeconds) throws ServerException {
        try {
            serverInfo = ServerServiceGrpc.newBlockingStub(calls).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS)
                .getServerInfo(ServerInfoRequest.getDefaultInstance());
            return serverInfo;
        } catch (StatusRuntimeException error) {
            throw ServerException.of(error, target);
        }
    }

    public ProjectInfo projectInfo(String project) throws ServerException {
        try {
            return ProjectServiceGrpc.newBlockingStub(calls).withDeadlineAfter(PROJECT_SECONDS, TimeUnit.SECONDS)
                .getProjectInfo(ProjectInfoRequest.newBuilder().setProject(project).build());
        } catch (StatusRuntimeException error) {
            throw ServerException.of(error, target);
        }
    }

    public List<DatasetInfo> listDatasets(String path) throws ServerException {
        try {
            return DatasetServiceGrpc.newBlockingStub(calls).withDeadlineAfter(PROJECT_SECONDS, TimeUnit.SECONDS)
                .listDatasets(ListDatasetsRequest.newBuilder().setPath(path).build()).getDatasetsList();
        } catch (StatusRuntimeException error) {
            throw ServerException.of(error, target);
        }
    }

    /** The chunk size to send: the protocol's, or the server's limit if lower. */
    public int chunkBytes() throws ServerException {
        ServerInfo info = serverInfo != null ? serverInfo : serverInfo();
        long limit = info.getMaxChunkBytes();
        return (int) Math.max(8, limit > 0 ? Math.min(DEFAULT_CHUNK_BYTES, limit) : DEFAULT_CHUNK_BYTES);
    }

    // -- streaming calls ---------------------------------------------------------------------

    /** Makes the reader for a result once its header has arrived. */
    public interface ReaderFactory<H> {
        ArrayReader create(H header) throws PixelserveException;
    }

    /**
     * Runs a project: sends the header, then the bytes of each array input (keyed by its index in
     * {@code header.inputs}, in that order), follows the server's progress, and receives the
     * results as the protocol sends them, each a ResultHeader then its chunks: the image (into
     * the reader the factory makes from its header; its chunks have array_index 0), then any
     * tables (column after column, array_index = the column). Cancelling the monitor cancels
     * the call, which stops the server's job.
     */
    public Prediction predict(PredictHeader header, Map<Integer, ArrayWriter> arrays,
                              ReaderFactory<ResultHeader> images, JobMonitor monitor) throws PixelserveException {
        Results results = new Results(images);
        Exchange<PredictRequest, PredictResponse> exchange = new Exchange<>(response -> {
            switch (response.getKindCase()) {
                case PROGRESS:
                    report(monitor, response.getProgress());
                    break;
                case RESULT:
                    results.start(response.getResult());
                    break;
                case CHUNK:
                    results.accept(response.getChunk());
                    break;
                default:
                    break;
            }
        }, monitor, target);
        PredictionServiceGrpc.newStub(calls).predict(exchange);
        upload(exchange, PredictRequest.newBuilder().setHeader(header).build(), arrays,
            chunk -> PredictRequest.newBuilder().setChunk(chunk).build());
        return results.finish();
    }

    /** The results of one prediction as they arrive: one image at most, then tables. */
    private static final class Results {
        private final ReaderFactory<ResultHeader> images;
        private final List<Table> tables = new ArrayList<>();
        private ResultHeader image;
        private ArrayReader imageReader;
        private TableAssembler table;
        private boolean started;

        Results(ReaderFactory<ResultHeader> images) {
            this.images = images;
        }

        void start(ResultHeader header) throws PixelserveException {
            finishCurrent();
            started = true;
            if (header.hasTable()) {
                table = new TableAssembler(header.getTable());
            } else if (image != null) {
                throw new ProtocolException("The server sent a second image: a prediction has one image, then tables");
            } else {
                image = header;
                imageReader = images.create(header);
            }
        }

        void accept(Chunk chunk) throws PixelserveException {
            if (table != null) {
                table.accept(chunk.getArrayIndex(), chunk.getData().asReadOnlyByteBuffer());
            } else if (imageReader != null) {
                if (chunk.getArrayIndex() != 0) {
                    throw new ProtocolException("The server sent bytes of array " + chunk.getArrayIndex()
                        + " for the image: an image's chunks have array_index 0");
                }
                imageReader.accept(chunk.getData().asReadOnlyByteBuffer());
            } else {
                throw new ProtocolException("The server sent result bytes before the result's header");
            }
        }

        private void finishCurrent() throws PixelserveException {
            if (table != null) {
                tables.add(table.finish());
                table = null;
            } else if (imageReader != null) {
                imageReader.finish();
                imageReader = null;
            }
        }

        Prediction finish() throws PixelserveException {
            if (!started) {
                throw new ProtocolException("The server ended the call without a result");
            }
            finishCurrent();
            return new Prediction(image, tables);
        }
    }

    /**
     * Runs a project over a folder of files on the server (BatchService.RunBatch): the server
     * reads and writes the files. Its progress goes to the monitor, every other response (the
     * files found, each file's outcome) to `responses` as it arrives; returns the summary.
     * Cancelling the monitor cancels the call, which stops the run on the server.
     */
    public BatchSummary runBatch(BatchRequest request, Consumer<BatchResponse> responses, JobMonitor monitor)
            throws PixelserveException {
        final BatchSummary[] summary = new BatchSummary[1];
        Exchange<BatchRequest, BatchResponse> exchange = new Exchange<>(response -> {
            if (response.hasProgress()) {
                report(monitor, response.getProgress());
            } else if (response.hasSummary()) {
                summary[0] = response.getSummary();
            } else {
                responses.accept(response);
            }
        }, monitor, target);
        BatchServiceGrpc.newStub(calls).runBatch(request, exchange);
        exchange.await();
        if (summary[0] == null) {
            throw new ProtocolException("The server ended the batch without its summary");
        }
        return summary[0];
    }

    /**
     * Trains a project on the server: sends the header, then each array (keyed by its
     * array_index: 2 * image for raw data, 2 * image + 1 for labels), follows the progress,
     * and returns the written project's description.
     */
    public ProjectInfo train(TrainHeader header, Map<Integer, ArrayWriter> arrays, JobMonitor monitor) throws PixelserveException {
        final ProjectInfo[] trained = new ProjectInfo[1];
        Exchange<TrainRequest, TrainResponse> exchange = new Exchange<>(response -> {
            if (response.hasProgress()) {
                report(monitor, response.getProgress());
            } else if (response.hasProject()) {
                trained[0] = response.getProject();
            }
        }, monitor, target);
        TrainingServiceGrpc.newStub(calls).train(exchange);
        upload(exchange, TrainRequest.newBuilder().setHeader(header).build(), arrays,
            chunk -> TrainRequest.newBuilder().setChunk(chunk).build());
        if (trained[0] == null) {
            throw new ProtocolException("The server ended the training without describing the project");
        }
        return trained[0];
    }

    /** Reads a dataset (or a box of it) from a file on the server into the factory's reader. */
    public ReadDatasetResponse readDataset(ReadDatasetRequest request, ReaderFactory<ReadDatasetResponse> readers,
                                           JobMonitor monitor) throws PixelserveException {
        final ReadDatasetResponse[] first = new ReadDatasetResponse[1];
        final ArrayReader[] reader = new ArrayReader[1];
        final long[] received = new long[2];
        Exchange<ReadDatasetRequest, ReadDatasetResponse> exchange = new Exchange<>(response -> {
            if (response.hasHeader()) {
                first[0] = response;
                reader[0] = readers.create(response);
                received[1] = elementsOf(response.getHeader()) * DType.of(response.getHeader()).itemSize;
            } else if (reader[0] == null) {
                throw new ProtocolException("The server sent dataset bytes before the dataset's header");
            } else {
                reader[0].accept(response.getChunk().getData().asReadOnlyByteBuffer());
                received[0] += response.getChunk().getData().size();
                monitor.progress(received[0], received[1], "receiving");
            }
        }, monitor, target);
        DatasetServiceGrpc.newStub(calls).readDataset(request, exchange);
        exchange.await();
        if (reader[0] == null) {
            throw new ProtocolException("The server ended the call without the dataset's header");
        }
        reader[0].finish();
        return first[0];
    }

    /** Writes an array as an HDF5 dataset on the server; returns the file's path there. */
    public String writeDataset(WriteDatasetHeader header, ArrayWriter array, JobMonitor monitor) throws PixelserveException {
        final WriteDatasetResponse[] response = new WriteDatasetResponse[1];
        Exchange<WriteDatasetRequest, WriteDatasetResponse> exchange =
            new Exchange<>(answer -> response[0] = answer, monitor, target);
        DatasetServiceGrpc.newStub(calls).writeDataset(exchange);
        upload(exchange, WriteDatasetRequest.newBuilder().setHeader(header.toBuilder().setArray(array.header())).build(),
            Collections.singletonMap(0, array), chunk -> WriteDatasetRequest.newBuilder().setChunk(chunk).build());
        if (response[0] == null) {
            throw new ProtocolException("The server ended the call without confirming the write");
        }
        return response[0].getPath();
    }

    /**
     * Sends the header, then each array's bytes as chunks (keyed by their array_index), then
     * waits for the end of the call. An early end by the server is reported by await().
     */
    private <Q> void upload(Exchange<Q, ?> exchange, Q header, Map<Integer, ArrayWriter> arrays,
                            Function<Chunk, Q> asRequest) throws PixelserveException {
        try {
            exchange.send(header);
            int chunkBytes = chunkBytes();
            for (Map.Entry<Integer, ArrayWriter> array : arrays.entrySet()) {
                final int index = array.getKey();
                Chunker chunker = new Chunker(chunkBytes, data -> exchange.send(asRequest.apply(
                    Chunk.newBuilder().setArrayIndex(index).setData(data).build())));
                array.getValue().write(chunker);
                chunker.flush();
            }
            exchange.finishSending();
        } catch (Exchange.CallEnded ended) {
            // the server closed the call while data was going out: await() says why
        } catch (PixelserveException | RuntimeException failure) {
            exchange.cancel();
            throw failure;
        }
        exchange.await();
    }

    private static void report(JobMonitor monitor, Progress progress) {
        monitor.progress(progress.getDone(), progress.getTotal(), progress.getPhase());
    }

    static long elementsOf(org.pixelserve.v1.ArrayHeader header) {
        long elements = 1;
        for (long size : header.getShapeList()) {
            elements *= size;
        }
        return elements;
    }
}
