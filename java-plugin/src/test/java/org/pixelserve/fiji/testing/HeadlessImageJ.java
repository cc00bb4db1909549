package org.pixelserve.fiji.testing;

import ij.IJ;
import ij.Menus;
import ij.macro.Interpreter;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Hashtable;
import java.util.Map;
import java.util.Properties;
import java.util.jar.JarFile;
import java.util.zip.ZipEntry;

/**
 * Runs an ImageJ macro with no display at all (java.awt.headless=true), as Fiji's --headless
 * mode and cluster jobs do, using plain ImageJ 1 (ImageJ2/Fiji are not on Maven Central).
 *
 * <p>ImageJ 1 builds its command table while it builds its AWT menus, which a headless JVM
 * cannot; this fills the table instead from the plugins.config of every jar in the plugins
 * folder (-Dplugins.dir, as Fiji installs them) and from ImageJ's own IJ_Props.txt, so that
 * run("Pixel Classification", "...") resolves as it does in Fiji. Errors never open a dialog:
 * the macro stops, the message goes to stderr and the exit code is 1.
 *
 * <pre>java -Djava.awt.headless=true -Dplugins.dir=DIR -cp ij.jar:tests.jar \
 *     org.pixelserve.fiji.testing.HeadlessImageJ macro.ijm [argument]</pre>
 */
public final class HeadlessImageJ {
    private HeadlessImageJ() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: HeadlessImageJ macro.ijm [argument]");
            System.exit(2);
        }
        String macro = new String(Files.readAllBytes(new File(args[0]).toPath()), StandardCharsets.UTF_8);
        String error = runMacro(macro, args.length > 1 ? args[1] : "");
        if (error != null) {
            System.err.println("Macro error: " + error);
            System.out.flush();
            System.exit(1);
        }
        System.out.flush();
        System.exit(0);
    }

    /** Runs a macro in batch mode; returns its error message, or null when it succeeded. */
    public static String runMacro(String macro, String argument) throws IOException, ReflectiveOperationException {
        installCommands();
        Interpreter.batchMode = true;
        Interpreter interpreter = new Interpreter();
        interpreter.setIgnoreErrors(true);
        String result = interpreter.run(macro, argument);
        String error = interpreter.getErrorMessage();
        if (error != null || interpreter.wasError() || "[aborted]".equals(result)) {
            return error != null ? error : "the macro was aborted";
        }
        return null;
    }

    /** Fills ImageJ's command table without menus (idempotent). */
    @SuppressWarnings("unchecked")
    public static synchronized Map<String, String> installCommands() throws IOException, ReflectiveOperationException {
        Field field = Menus.class.getDeclaredField("pluginsTable");
        field.setAccessible(true);
        Hashtable<String, String> table = (Hashtable<String, String>) field.get(null);
        if (table != null) {
            return table;
        }
        table = new Hashtable<>();
        try (InputStream props = IJ.class.getResourceAsStream("/IJ_Props.txt")) {
            Properties properties = new Properties();
            properties.load(props);
            for (String key : properties.stringPropertyNames()) {
                addEntry(table, properties.getProperty(key));
            }
        }
        // A few of ImageJ's top-level commands that its menus (not IJ_Props.txt) declare.
        table.put("8-bit", "ij.plugin.Converter(\"8-bit\")");
        table.put("16-bit", "ij.plugin.Converter(\"16-bit\")");
        table.put("32-bit", "ij.plugin.Converter(\"32-bit\")");
        table.put("RGB Color", "ij.plugin.Converter(\"RGB Color\")");
        table.put("Properties...", "ij.plugin.filter.ImageProperties");
        table.put("Duplicate...", "ij.plugin.Duplicator");
        table.put("Crop", "ij.plugin.Resizer(\"crop\")");
        table.put("Measure", "ij.plugin.filter.Analyzer");
        table.put("Clear Results", "ij.plugin.filter.Analyzer(\"clear\")");
        String pluginsDir = System.getProperty("plugins.dir");
        if (pluginsDir != null) {
            File folder = new File(pluginsDir, "plugins");
            File[] jars = (folder.isDirectory() ? folder : new File(pluginsDir)).listFiles();
            for (File jar : jars == null ? new File[0] : jars) {
                if (jar.getName().endsWith(".jar") && jar.getName().contains("_")) {
                    addJar(table, jar);
                }
            }
        }
        field.set(null, table);
        return table;
    }

    private static void addJar(Hashtable<String, String> table, File file) throws IOException {
        try (JarFile jar = new JarFile(file)) {
            ZipEntry entry = jar.getEntry("plugins.config");
            if (entry == null) {
                return;
            }
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(jar.getInputStream(entry), StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    line = line.trim();
                    if (line.isEmpty() || line.startsWith("#")) {
                        continue;
                    }
                    int comma = line.indexOf(',');  // "Plugins>pixelserve, "Label", class"
                    if (comma > 0) {
                        addEntry(table, line.substring(comma + 1).trim());
                    }
                }
            }
        }
    }

    /** Adds '"Label", class' (or 'Label",class' as in IJ_Props.txt) to the table. */
    private static void addEntry(Hashtable<String, String> table, String entry) {
        if (!entry.startsWith("\"")) {
            return;
        }
        int close = entry.indexOf('"', 1);
        int comma = close < 0 ? -1 : entry.indexOf(',', close);
        if (comma < 0) {
            return;
        }
        String label = entry.substring(1, close);
        int shortcut = label.indexOf('[');
        if (shortcut > 0 && label.endsWith("]")) {
            label = label.substring(0, shortcut);
        }
        table.put(label, entry.substring(comma + 1).trim());
    }
}
