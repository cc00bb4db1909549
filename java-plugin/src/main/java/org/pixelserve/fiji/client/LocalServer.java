package org.pixelserve.fiji.client;

import java.io.File;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.pixelserve.fiji.CancelledException;
import org.pixelserve.fiji.PixelserveException;

/**
 * A pixelserve server this plugin started on this machine: on 127.0.0.1, with a random token
 * (so that other users of the machine cannot use it), allowed to read every file this user
 * can, and stopped when the JVM (Fiji) exits.
 */
public final class LocalServer {
    private static final long START_SECONDS = 180;

    private final Process process;
    private final int port;
    private final String token;
    private final File log;

    private LocalServer(Process process, int port, String token, File log) {
        this.process = process;
        this.port = port;
        this.token = token;
        this.log = log;
    }

    public int port() {
        return port;
    }

    public String token() {
        return token;
    }

    public File log() {
        return log;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The process id (Java 9+; -1 on Java 8). */
    public long pid() {
        try {
            return (Long) Process.class.getMethod("pid").invoke(process);
        } catch (ReflectiveOperationException | RuntimeException unavailable) {
            return -1;
        }
    }

    /** Stops the server (SIGTERM: running jobs are cancelled after a grace period). */
    public void stop() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException interrupted) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** Splits a command line at spaces, keeping "quoted parts" together. */
    public static List<String> split(String command) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        char quote = 0;
        boolean inWord = false;
        for (char ch : command.trim().toCharArray()) {
            if (quote != 0) {
                if (ch == quote) {
                    quote = 0;
                } else {
                    word.append(ch);
                }
            } else if (ch == '"' || ch == '\'') {
                quote = ch;
                inWord = true;
            } else if (Character.isWhitespace(ch)) {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
            } else {
                word.append(ch);
                inWord = true;
            }
        }
        if (inWord) {
            words.add(word.toString());
        }
        return words;
    }

    /**
     * Starts {@code command} (e.g. "pixelserve serve") on {@code port} (0: a free one) and waits
     * until it listens. {@code token}: the token to require, or empty for a random one.
     */
    public static LocalServer start(String command, int port, String token, JobMonitor monitor) throws PixelserveException {
        List<String> words = split(command);
        if (words.isEmpty()) {
            throw new PixelserveException("No command to start a local pixelserve server is set: give one in "
                + "Plugins > pixelserve > Server Settings (e.g. 'pixelserve serve')");
        }
        if (token == null || token.isEmpty()) {
            byte[] random = new byte[24];
            new SecureRandom().nextBytes(random);
            StringBuilder hex = new StringBuilder();
            for (byte b : random) {
                hex.append(String.format("%02x", b));
            }
            token = hex.toString();
        }
        File portFile;
        File tokenFile;
        File log;
        try {
            File folder = Files.createTempDirectory("pixelserve-fiji").toFile();
            folder.deleteOnExit();
            portFile = new File(folder, "port");
            tokenFile = new File(folder, "token");
            log = new File(folder, "server.log");
            tokenFile.createNewFile();
            tokenFile.setReadable(false, false);
            tokenFile.setReadable(true, true);
            try (Writer writer = Files.newBufferedWriter(tokenFile.toPath(), StandardCharsets.UTF_8)) {
                writer.write(token);
            }
            for (File file : new File[] {portFile, tokenFile, log}) {
                file.deleteOnExit();
            }
        } catch (IOException error) {
            throw new PixelserveException("Cannot write the local server's files in the temporary folder: " + error.getMessage());
        }
        List<String> arguments = new ArrayList<>(words);
        Collections.addAll(arguments, "--port", Integer.toString(port), "--port-file", portFile.getPath(),
            "--token-file", tokenFile.getPath());
        for (File root : File.listRoots()) {
            Collections.addAll(arguments, "--allowed-root", root.getPath());
        }
        Process process;
        try {
            process = new ProcessBuilder(arguments).redirectErrorStream(true).redirectOutput(log).start();
        } catch (IOException error) {
            throw new PixelserveException("Could not start a local pixelserve server with '" + command + "' ("
                + error.getMessage() + "): install pixelserve (pip install pixelserve) and give the full path of its "
                + "program in Plugins > pixelserve > Server Settings, e.g. '/home/me/venv/bin/pixelserve serve'");
        }
        LocalServer server = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_SECONDS);
        try {
            while (server == null) {
                if (portFile.exists()) {
                    String text = new String(Files.readAllBytes(portFile.toPath()), StandardCharsets.UTF_8).trim();
                    if (!text.isEmpty()) {
                        server = new LocalServer(process, Integer.parseInt(text), token, log);
                        break;
                    }
                }
                if (!process.isAlive()) {
                    throw new PixelserveException("The local pixelserve server ('" + command + "') stopped at once with exit code "
                        + process.exitValue() + ": " + tail(log));
                }
                if (monitor.isCancelled()) {
                    throw new CancelledException();
                }
                if (System.nanoTime() > deadline) {
                    throw new PixelserveException("The local pixelserve server ('" + command + "') did not start listening within "
                        + START_SECONDS + " s; its log is " + log);
                }
                monitor.progress(0, 0, "starting a local server");
                Thread.sleep(100);
            }
        } catch (IOException | NumberFormatException | InterruptedException error) {
            process.destroyForcibly();
            throw new PixelserveException("Could not read the local server's port: " + error);
        } catch (PixelserveException error) {
            process.destroyForcibly();
            throw error;
        }
        final LocalServer started = server;
        Runtime.getRuntime().addShutdownHook(new Thread(started::stop, "pixelserve-stop-local-server"));
        return started;
    }

    /** The last lines of the log, for an error message. */
    static String tail(File log) {
        try {
            List<String> lines = Files.readAllLines(log.toPath(), StandardCharsets.UTF_8);
            List<String> last = lines.subList(Math.max(0, lines.size() - 6), lines.size());
            String text = String.join(" | ", last).trim();
            return text.isEmpty() ? "it printed nothing" : text;
        } catch (IOException | RuntimeException error) {
            return "its log " + log + " cannot be read";
        }
    }
}
