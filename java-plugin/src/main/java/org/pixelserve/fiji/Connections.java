package org.pixelserve.fiji;

import ij.IJ;
import io.grpc.Status;
import org.pixelserve.fiji.client.JobMonitor;
import org.pixelserve.fiji.client.LocalServer;
import org.pixelserve.fiji.client.PixelserveClient;
import org.pixelserve.fiji.client.ServerException;
import org.pixelserve.v1.ServerInfo;

/**
 * The one connection of this Fiji to a pixelserve server, made on first use from the
 * settings. A local server is started when the settings ask for one (port 0), or when the
 * configured local port does not answer and a start command is set.
 */
public final class Connections {
    private static PixelserveClient client;
    private static ServerSettings connectedWith;
    private static LocalServer local;

    private Connections() {
    }

    /** A client for the current settings, checked with GetServerInfo; the info is returned too. */
    public static synchronized Connected get(JobMonitor monitor) throws PixelserveException {
        ServerSettings settings = ServerSettings.load();
        if (client != null && settings.equals(connectedWith)) {
            try {
                return new Connected(client, client.serverInfo());
            } catch (ServerException gone) {
                if (gone.code() != Status.Code.UNAVAILABLE || (local == null && !canStart(settings))) {
                    throw gone;
                }
            }
        }
        closeClient();
        if (settings.port == 0) {
            return connectLocal(settings, 0, monitor);
        }
        PixelserveClient candidate = new PixelserveClient(settings.host, settings.port, settings.token);
        try {
            ServerInfo info = candidate.serverInfo();
            client = candidate;
            connectedWith = settings;
            return new Connected(client, info);
        } catch (ServerException error) {
            candidate.close();
            if (error.code() != Status.Code.UNAVAILABLE || !canStart(settings)) {
                throw error;
            }
        }
        return connectLocal(settings, settings.port, monitor);
    }

    private static boolean canStart(ServerSettings settings) {
        return settings.isLocal() && !settings.command.isEmpty();
    }

    private static Connected connectLocal(ServerSettings settings, int port, JobMonitor monitor) throws PixelserveException {
        if (local == null || !local.isAlive() || (port != 0 && local.port() != port)) {
            if (local != null) {
                local.stop();
            }
            local = null;
            local = LocalServer.start(settings.command, port, settings.token, monitor);
            IJ.log("pixelserve: started a local server (" + settings.command + ") on port " + local.port()
                + (local.pid() > 0 ? ", process " + local.pid() : "") + ", log " + local.log()
                + "; it stops when Fiji quits");
        }
        PixelserveClient candidate = new PixelserveClient("127.0.0.1", local.port(), local.token());
        try {
            ServerInfo info = candidate.serverInfo(30);
            client = candidate;
            connectedWith = settings;
            return new Connected(client, info);
        } catch (ServerException error) {
            candidate.close();
            throw error;
        }
    }

    private static void closeClient() {
        if (client != null) {
            client.close();
        }
        client = null;
        connectedWith = null;
    }

    /** Forgets the connection (after the settings changed); a local server keeps running for reuse. */
    public static synchronized void reset() {
        closeClient();
    }

    /** A client and what its server said about itself. */
    public static final class Connected {
        public final PixelserveClient client;
        public final ServerInfo info;

        Connected(PixelserveClient client, ServerInfo info) {
            this.client = client;
            this.info = info;
        }
    }
}
