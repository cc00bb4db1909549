package org.pixelserve.fiji.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.Macro;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.v1.ExportSettings;
import org.pixelserve.v1.ProjectInfo;
import org.pixelserve.v1.WorkflowOption;

/** Option handling: parsing ImageJ's option strings, checking keys, and keys the recorder writes. */
class OptionsTest {
    static final List<PixelserveCommand> COMMANDS = Arrays.asList(new PixelClassification(), new Autocontext(),
        new ObjectClassification(), new Multicut(), new Counting(), new Tracking(), new ImportHdf5(),
        new ListHdf5Datasets(), new ExportHdf5(), new ServerSettingsCommand(), new TrainPixelClassifier(), new TrainObjectClassifier(), new TrainCellCounter(), new RunProject(),
        new BatchProcessFolder());

    @Test
    void parsesImageJOptionStrings() throws PixelserveException {
        Map<String, String> values = MacroOptions.parse(
            "project=[/data/my project.ilp] raw_data=cells.tif export_source='Simple Segmentation' compressed axes=[a[b]c]");
        assertEquals("/data/my project.ilp", values.get("project"));
        assertEquals("cells.tif", values.get("raw_data"));
        assertEquals("Simple Segmentation", values.get("export_source"));
        assertEquals(MacroOptions.FLAG, values.get("compressed"));
        assertEquals("a[b]c", values.get("axes"));
        assertThrows(PixelserveException.class, () -> MacroOptions.parse("project=[never closed"));
        assertTrue(MacroOptions.parse("   ").isEmpty());
    }

    @Test
    void macroValuesAreCheckedAgainstTheParams() throws PixelserveException {
        List<Param> params = new ExportHdf5().params();
        Values values = OptionReader.fromMacro("Export HDF5 (pixelserve)", withoutImage(params),
            MacroOptions.parse("file=/tmp/a.h5 compressed"));
        assertEquals("/tmp/a.h5", values.get("file"));
        assertEquals("exported_data", values.get("dataset"));
        assertEquals("tzyxc", values.get("axes"));
        assertTrue(values.flag("compressed"));
        Values plain = OptionReader.fromMacro("x", withoutImage(params), MacroOptions.parse("file=/tmp/a.h5"));
        assertFalse(plain.flag("compressed"), "a checkbox is off unless its key is given, as in ImageJ");

        PixelserveException unknown = assertThrows(PixelserveException.class, () -> OptionReader.fromMacro(
            "Export HDF5 (pixelserve)", withoutImage(params), MacroOptions.parse("file=/tmp/a.h5 compresed")));
        assertTrue(unknown.getMessage().contains("has no option 'compresed'"), unknown.getMessage());
        assertTrue(unknown.getMessage().contains("file, dataset, axes, compressed"), unknown.getMessage());

        PixelserveException missing = assertThrows(PixelserveException.class,
            () -> OptionReader.fromMacro("Export HDF5 (pixelserve)", withoutImage(params), MacroOptions.parse("dataset=x")));
        assertTrue(missing.getMessage().contains("needs file=[...]"), missing.getMessage());
    }

    @Test
    void numbersAndChoices() throws PixelserveException {
        List<Param> settings = new ServerSettingsCommand().params();
        Values values = OptionReader.fromMacro("Server Settings", settings, MacroOptions.parse("port=5005 token=abc"));
        assertEquals(5005, values.number("port"));
        assertEquals("127.0.0.1", values.get("host"));
        assertEquals("pixelserve serve", values.get("command"));
        assertThrows(PixelserveException.class,
            () -> OptionReader.fromMacro("Server Settings", settings, MacroOptions.parse("port=many")));
        List<Param> choice = Arrays.asList(Param.choice("mode", "a", "", "Alpha", "Beta"));
        assertEquals("Beta", OptionReader.fromMacro("x", choice, MacroOptions.parse("mode=beta")).get("mode"));
        assertThrows(PixelserveException.class, () -> OptionReader.fromMacro("x", choice, MacroOptions.parse("mode=gamma")));
        List<Param> open = Arrays.asList(Param.openChoice("source", "", "", "Probabilities"));
        assertEquals("Labels Stage 2", OptionReader.fromMacro("x", open, MacroOptions.parse("source=[Labels Stage 2]")).get("source"));
        Values empty = OptionReader.fromMacro("Server Settings", settings, MacroOptions.parse("command=[] token=[]"));
        assertEquals("", empty.get("command"), "an explicitly empty value stays empty: no local server is started");
    }

    @Test
    void anImageMustBeOpen() {
        PixelserveException error = assertThrows(PixelserveException.class,
            () -> OptionReader.fromMacro("Pixel Classification", new PixelClassification().params(),
                MacroOptions.parse("project=/p.ilp")));
        assertTrue(error.getMessage().contains("none is open"), error.getMessage());
        PixelserveException named = assertThrows(PixelserveException.class,
            () -> OptionReader.fromMacro("Pixel Classification", new PixelClassification().params(),
                MacroOptions.parse("project=/p.ilp raw_data=[no such image]")));
        assertTrue(named.getMessage().contains("no image titled 'no such image'"), named.getMessage());
    }

    static ProjectInfo project() {
        return ProjectInfo.newBuilder().setProject("/data/cc.ilp").setTitle("Connected Components").addTables("objects")
            .addOptions(WorkflowOption.newBuilder().setName("threshold").setKind("number").setDefault("0.5").setHelp("foreground above"))
            .addOptions(WorkflowOption.newBuilder().setName("table_filename").setKind("path"))
            .addOptions(WorkflowOption.newBuilder().setName("mode").setKind("text").addChoices("fast").addChoices("Exact"))
            .addOptions(WorkflowOption.newBuilder().setName("passes").setKind("integer").setDefault("2"))
            .addOptions(WorkflowOption.newBuilder().setName("plugin").setKind("text").addChoices("CSV").addChoices("JSON"))
            .addOptions(WorkflowOption.newBuilder().setName("holes").setKind("yes/no").setDefault("True"))
            .build();
    }

    @Test
    void aProjectsOwnOptionsAreKeysAndReachTheServerAsTyped() throws PixelserveException {
        ProjectInfo info = project();
        List<Param> params = new ArrayList<>(Collections.singletonList(WorkflowCommand.project()));
        params.addAll(ProjectOptions.params(info));
        Values values = OptionReader.fromMacro("Run Project", params,
            MacroOptions.parse("project=/data/cc.ilp threshold=0.75 mode=exact table_only"));
        ExportSettings.Builder settings = ExportSettings.newBuilder();
        ProjectOptions.apply(info, values, settings);
        Map<String, String> expected = new HashMap<>();
        expected.put("threshold", "0.75");
        expected.put("mode", "Exact");
        expected.put("passes", "2");
        expected.put("holes", "false");  // ImageJ's convention: a checkbox is on only when its key is given
        assertEquals(expected, settings.getOptionsMap(), "a choice without a default (plugin) is not sent unless given");
        assertTrue(settings.getTableOnly());

        PixelserveException number = assertThrows(PixelserveException.class, () -> OptionReader.fromMacro("Run Project", params,
            MacroOptions.parse("project=/data/cc.ilp threshold=high")));
        assertTrue(number.getMessage().contains("threshold=high is not a number"), number.getMessage());
        assertThrows(PixelserveException.class, () -> OptionReader.fromMacro("Run Project", params,
            MacroOptions.parse("project=/data/cc.ilp passes=2.5")));
        PixelserveException unknown = assertThrows(PixelserveException.class, () -> OptionReader.fromMacro("Run Project", params,
            MacroOptions.parse("project=/data/cc.ilp treshold=0.2")));
        assertTrue(unknown.getMessage().contains("has no option 'treshold': its options are project, threshold, table_filename, "
            + "mode, passes, plugin, holes, table_only"), unknown.getMessage());
        Values plugin = OptionReader.fromMacro("Run Project", params, MacroOptions.parse("project=/data/cc.ilp plugin=json"));
        ExportSettings.Builder chosen = ExportSettings.newBuilder();
        ProjectOptions.apply(info, plugin, chosen);
        assertEquals("JSON", chosen.getOptionsMap().get("plugin"));
        ProjectInfo noTables = info.toBuilder().clearTables().clearOptions().build();
        assertTrue(ProjectOptions.params(noTables).isEmpty(), "no table_only for a project without tables");
    }

    private static List<Param> withoutImage(List<Param> params) {
        return params.subList(1, params.size());
    }

    @Test
    void theRecorderWritesTheDocumentedKeys() {
        for (PixelserveCommand command : COMMANDS) {
            Set<String> keys = new HashSet<>();
            for (Param param : command.params()) {
                assertEquals(param.key, Macro.trimKey(param.label()), command.name());
                assertTrue(param.key.matches("[a-z_]+"), param.key);
                assertTrue(keys.add(param.key), "duplicate key " + param.key + " in " + command.name());
            }
        }
    }

    @Test
    void workflowCommandsShareTheirKeys() {
        for (WorkflowCommand command : WorkflowCommand.ALL) {
            List<Param> params = command.params();
            assertEquals("project", params.get(0).key);
            assertEquals("raw_data", params.get(1).key);
            assertEquals("export_source", params.get(params.size() - 1).key);
        }
        assertTrue(new PixelClassification().runs("Pixel Classification"));
        assertTrue(new Autocontext().runs("Autocontext"));
        assertTrue(new ObjectClassification().runs("Object Classification"));
        assertTrue(new Multicut().runs("Multicut"));
        assertTrue(new Counting().runs("Counting"));
        assertTrue(new Tracking().runs("Tracking"));
        assertFalse(new PixelClassification().runs("Autocontext"));
    }

    @Test
    void pluginsConfigNamesEveryCommand() throws Exception {
        Set<String> names = new HashSet<>();
        try (InputStream config = getClass().getResourceAsStream("/plugins.config");
             BufferedReader reader = new BufferedReader(new InputStreamReader(config, StandardCharsets.UTF_8))) {
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.startsWith("Plugins>pixelserve, \"") && !line.contains("\"-\"")) {
                    String[] parts = line.split("\"");
                    String className = parts[2].replace(",", "").trim();
                    PixelserveCommand command = (PixelserveCommand) Class.forName(className).getDeclaredConstructor().newInstance();
                    assertEquals(parts[1], command.name());
                    names.add(parts[1]);
                }
            }
        }
        assertEquals(COMMANDS.size(), names.size());
    }
}
