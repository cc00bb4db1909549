package org.pixelserve.fiji;

import ij.Prefs;
import java.util.Objects;

/**
 * Where the server is: host, port, token, and the command that starts a local one. Kept in
 * ImageJ's preferences (IJ_Prefs.txt, saved when Fiji quits). Port 0 means: start a local
 * server on first use and stop it with Fiji.
 */
public final class ServerSettings {
    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final String DEFAULT_COMMAND = "pixelserve serve";
    /** The keys of the Server Settings dialog, so that it opens with the settings in force. */
    private static final String PREFIX = "pixelserve.server_settings.";

    public final String host;
    public final int port;
    public final String token;
    public final String command;

    public ServerSettings(String host, int port, String token, String command) {
        this.host = host == null || host.trim().isEmpty() ? DEFAULT_HOST : host.trim();
        this.port = port;
        this.token = token == null ? "" : token.trim();
        this.command = command == null ? "" : command.trim();
    }

    public static ServerSettings load() {
        return new ServerSettings(Prefs.get(PREFIX + "host", DEFAULT_HOST), (int) Prefs.get(PREFIX + "port", 0),
            Prefs.get(PREFIX + "token", ""), Prefs.get(PREFIX + "command", DEFAULT_COMMAND));
    }

    public void save() {
        Prefs.set(PREFIX + "host", host);
        Prefs.set(PREFIX + "port", port);
        Prefs.set(PREFIX + "token", token);
        Prefs.set(PREFIX + "command", command);
    }

    /** True for this machine's addresses, where a server may be started. */
    public boolean isLocal() {
        return host.equals("localhost") || host.startsWith("127.") || host.equals("::1") || host.equals("[::1]");
    }

    public String describe() {
        return port == 0 ? "a local server started by Fiji" : host + ":" + port;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof ServerSettings)) {
            return false;
        }
        ServerSettings that = (ServerSettings) other;
        return host.equals(that.host) && port == that.port && token.equals(that.token) && command.equals(that.command);
    }

    @Override
    public int hashCode() {
        return Objects.hash(host, port, token, command);
    }
}
