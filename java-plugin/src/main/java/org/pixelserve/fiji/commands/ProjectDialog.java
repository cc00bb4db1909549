package org.pixelserve.fiji.commands;

import ij.gui.GenericDialog;
import java.awt.Choice;
import java.awt.Component;
import java.awt.EventQueue;
import java.awt.Label;
import java.awt.TextField;
import java.util.Map;
import java.util.function.Predicate;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.PixelserveClient;
import org.pixelserve.v1.InputRole;
import org.pixelserve.v1.ProjectInfo;

/**
 * Keeps a dialog in step with its project: whenever the project path changes, the server
 * describes the project (in the background), a line says what the project expects, and the
 * export source list (if the dialog has one) becomes the project's; an output format list
 * selects the project's stored format.
 */
final class ProjectDialog implements OptionReader.DialogHook, AutoCloseable {
    static final String OUTPUT_FORMAT = "output_format";

    private final PixelserveClient client;
    private final Predicate<String> runs;
    private final String command;
    private final TypingLookup lookup = new TypingLookup("pixelserve-project-dialog", this::describe);
    private TextField project;
    private Choice sources;
    private Choice formats;
    private Component message;

    /** `runs(title)`: whether the command runs projects of that workflow; `command`: its name. */
    ProjectDialog(PixelserveClient client, Predicate<String> runs, String command) {
        this.client = client;
        this.runs = runs;
        this.command = command;
    }

    @Override
    public void customize(GenericDialog dialog, Map<String, Component> fields) {
        project = (TextField) fields.get(WorkflowCommand.PROJECT);
        sources = (Choice) fields.get(WorkflowCommand.EXPORT_SOURCE);
        formats = (Choice) fields.get(OUTPUT_FORMAT);
        dialog.addMessage("Project: (give a project to see what it expects)");
        message = dialog.getMessage();
        // A plain text listener: a GenericDialog's DialogListener would take over recording.
        project.addTextListener(event -> lookup.changed(project.getText().trim()));
        lookup.changed(project.getText().trim());
    }

    private void describe(String path) {
        String text;
        ProjectInfo info = null;
        try {
            info = client.projectInfo(path);
            text = summary(info);
        } catch (PixelserveException error) {
            text = error.getMessage();
        }
        final ProjectInfo described = info;
        final String line = text.length() > 110 ? text.substring(0, 107) + "..." : text;
        EventQueue.invokeLater(() -> {
            if (!path.equals(project.getText().trim())) {
                return;  // the path changed again meanwhile
            }
            if (message instanceof Label) {
                ((Label) message).setText(line);
            }
            if (described != null && formats != null) {
                String stored = described.getExportDefaultsMap().get(OUTPUT_FORMAT);
                for (int i = 0; stored != null && i < formats.getItemCount(); i++) {
                    if (formats.getItem(i).equalsIgnoreCase(stored)) {
                        formats.select(i);
                    }
                }
            }
            if (described != null && sources != null && described.getExportSourcesCount() > 0) {
                String selected = sources.getSelectedItem();
                sources.removeAll();
                for (String source : described.getExportSourcesList()) {
                    sources.add(source);
                }
                String keep = selected != null && described.getExportSourcesList().contains(selected)
                    ? selected : described.getDefaultExportSource();
                if (!keep.isEmpty()) {
                    sources.select(keep);
                }
            }
        });
    }

    String summary(ProjectInfo info) {
        StringBuilder text = new StringBuilder(info.getWorkflow());
        if (!runs.test(info.getTitle())) {
            text.append(" project: not for ").append(command);
            return text.toString();
        }
        if (info.getInputRolesCount() > 0) {
            InputRole raw = info.getInputRoles(0);
            if (raw.getChannels() > 0) {
                text.append(", ").append(raw.getChannels()).append(raw.getChannels() == 1 ? " channel" : " channels");
            }
            if (raw.getSpatialDims() > 0) {
                text.append(", ").append(raw.getSpatialDims()).append("D");
            }
        }
        if (info.getTablesCount() > 0) {
            text.append(", tables: ").append(String.join(", ", info.getTablesList()));
        }
        if (info.getLabelsCount() > 0) {
            text.append(", classes: ");
            for (int i = 0; i < info.getLabelsCount(); i++) {
                text.append(i == 0 ? "" : ", ").append(info.getLabels(i).getName());
            }
        }
        return text.toString();
    }

    /** Stops the background look-ups once the dialog is closed. */
    @Override
    public void close() {
        lookup.close();
    }
}
