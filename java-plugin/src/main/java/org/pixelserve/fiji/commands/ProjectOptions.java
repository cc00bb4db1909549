package org.pixelserve.fiji.commands;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.JobMonitor;
import org.pixelserve.fiji.client.PixelserveClient;
import org.pixelserve.v1.ExportSettings;
import org.pixelserve.v1.ProjectInfo;
import org.pixelserve.v1.WorkflowOption;

/**
 * A project's own settings as options of a command: each of ProjectInfo.options is a macro
 * key and dialog field named as its headless flag without dashes, and table_only is one when
 * the project gives tables; their values go to the server as ExportSettings.options.
 */
final class ProjectOptions {
    static final String TABLE_ONLY = "table_only";

    private ProjectOptions() {
    }

    /** What a command asks of a project beyond its own options (e.g. its images), or a refusal. */
    interface Inputs {
        List<Param> params(ProjectInfo info) throws PixelserveException;
    }

    /**
     * The options that follow the project: the server describes the project the first options
     * name (kept for the command's run), then come `inputs` and the project's own options.
     */
    static final class FollowUp implements OptionReader.FollowUp {
        private final PixelserveClient client;
        private final JobMonitor monitor;
        private final Inputs inputs;
        private ProjectInfo info;

        FollowUp(PixelserveClient client, JobMonitor monitor, Inputs inputs) {
            this.client = client;
            this.monitor = monitor;
            this.inputs = inputs;
        }

        @Override
        public List<Param> params(Values first) throws PixelserveException {
            monitor.progress(0, 0, "describing the project");
            info = client.projectInfo(first.get(WorkflowCommand.PROJECT));
            List<Param> params = new ArrayList<>(inputs.params(info));
            params.addAll(ProjectOptions.params(info));
            return params;
        }

        @Override
        public String help() {
            return ProjectOptions.help(info);
        }

        /** The project, as the server described it when the options were read. */
        ProjectInfo info() {
            return info;
        }
    }

    static List<Param> params(ProjectInfo info) {
        List<Param> params = new ArrayList<>();
        for (WorkflowOption option : info.getOptionsList()) {
            params.add(Param.of(option));
        }
        if (info.getTablesCount() > 0) {
            params.add(Param.optional(TABLE_ONLY, Param.Kind.CHECKBOX, "false",
                "compute the tables (" + String.join(", ", info.getTablesList()) + ") only, no image"));
        }
        return params;
    }

    /** The options' values as the server takes them; a value left empty is not sent (the default applies). */
    static void apply(ProjectInfo info, Values values, ExportSettings.Builder settings) {
        for (WorkflowOption option : info.getOptionsList()) {
            String value = values.get(option.getName());
            if (!value.isEmpty()) {
                settings.putOptions(option.getName(), value);
            }
        }
        settings.setTableOnly(info.getTablesCount() > 0 && values.flag(TABLE_ONLY));
    }

    /** What the options mean, for the dialog that asks for them. */
    static String help(ProjectInfo info) {
        StringBuilder text = new StringBuilder(new File(info.getProject()).getName()).append(": ").append(info.getTitle());
        for (WorkflowOption option : info.getOptionsList()) {
            text.append('\n').append(option.getName()).append(": ").append(option.getHelp());
        }
        return text.toString();
    }
}
