package org.pixelserve.fiji.client;

/** Follows a server job: progress in, cancellation out. Called from gRPC threads too. */
public interface JobMonitor {
    /** The server's progress: {@code done} of {@code total} elements (total 0: unknown), and its phase. */
    void progress(long done, long total, String phase);

    /** True once the user asked to stop; the call is then cancelled. */
    boolean isCancelled();

    JobMonitor NONE = new JobMonitor() {
        @Override
        public void progress(long done, long total, String phase) {
        }

        @Override
        public boolean isCancelled() {
            return false;
        }
    };
}
