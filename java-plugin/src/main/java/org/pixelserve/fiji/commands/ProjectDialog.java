package org.pixelserve.fiji.commands;

import ij.gui.GenericDialog;
import java.awt.Choice;
import java.awt.Component;
import java.awt.EventQueue;
import java.awt.Label;
import java.awt.TextField;
import java.util.Map;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.PixelserveClient;
import org.pixelserve.v1.InputRole;
import org.pixelserve.v1.ProjectInfo;

/**
 * Keeps a workflow dialog in step with its project: whenever the project path changes, the
 * server describes the project (in the background) and the export source list becomes the
 * project's, with a line saying what the project expects.
 */
final class ProjectDialog implements OptionReader.DialogHook, AutoCloseable {
    private final PixelserveClient client;
    private final WorkflowCommand command;
    private final TypingLookup lookup = new TypingLookup("pixelserve-project-dialog", this::describe);
    private TextField project;
    private Choice sources;
    private Component message;

    ProjectDialog(PixelserveClient client, WorkflowCommand command) {
        this.client = client;
        this.command = command;
    }

    @Override
    public void customize(GenericDialog dialog, Map<String, Component> fields) {
        project = (TextField) fields.get(WorkflowCommand.PROJECT);
        sources = (Choice) fields.get(WorkflowCommand.EXPORT_SOURCE);
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
            if (described != null && described.getExportSourcesCount() > 0) {
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
        if (!command.runs(info.getTitle())) {
            text.append(" project: not for ").append(command.name());
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
