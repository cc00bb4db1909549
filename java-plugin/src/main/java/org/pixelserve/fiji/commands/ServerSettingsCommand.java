package org.pixelserve.fiji.commands;

import ij.IJ;
import java.util.Arrays;
import java.util.List;
import org.pixelserve.fiji.Connections;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.ServerSettings;

/** Plugins &gt; pixelserve &gt; Server Settings: where the server is, and how to start a local one. */
public final class ServerSettingsCommand extends PixelserveCommand {
    @Override
    public String name() {
        return "Server Settings";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            Param.optional("host", Param.Kind.TEXT, ServerSettings.DEFAULT_HOST, "the server's address"),
            Param.optional("port", Param.Kind.NUMBER, "0", "the server's port; 0: start a local server on first use"),
            Param.optional("token", Param.Kind.SECRET, "", "the token the server requires (its --token-file), or empty"),
            Param.optional("command", Param.Kind.TEXT, ServerSettings.DEFAULT_COMMAND,
                "the command that starts a local server, e.g. /home/me/venv/bin/pixelserve serve"));
    }

    @Override
    protected String help() {
        return "Port 0: Fiji starts a local server on first use (with the command) and stops it when it quits.\n"
            + "Another port on this machine that does not answer: a server is started there.";
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) {
        ServerSettings settings = new ServerSettings(values.get("host"), values.number("port"), values.get("token"),
            values.get("command"));
        settings.save();
        Connections.reset();
        IJ.showStatus("pixelserve: using " + settings.describe());
    }
}
