package org.pixelserve.fiji.commands;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.pixelserve.v1.InputRole;
import org.pixelserve.v1.ProjectInfo;

/**
 * Plugins &gt; pixelserve &gt; Run Project: a project of any workflow the server runs, also
 * one this plugin has no menu entry for. Everything but the project comes from the project:
 * its images are its input roles (keyed like their headless flags: raw_data, prediction_maps,
 * ...), then export_source and the workflow's own options.
 */
public final class RunProject extends WorkflowCommand {
    static final String NAME = "Run Project";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    boolean runs(String title) {
        return true;
    }

    @Override
    protected List<Param> imageInputs() {
        return Collections.emptyList();
    }

    @Override
    public List<Param> params() {
        return Collections.singletonList(project());
    }

    @Override
    protected List<Param> projectInputs(ProjectInfo project) {
        List<Param> params = new ArrayList<>();
        for (InputRole role : project.getInputRolesList()) {
            String help = "the image for the project's '" + role.getName() + "' input";
            // Only the first role defaults to the current image: a second image must be named.
            params.add(params.isEmpty() ? Param.required(key(role), Param.Kind.IMAGE, help + " (default: the current image)")
                : optionalImage(key(role), help + (role.getRequired() ? "" : ", or None")));
        }
        params.add(Param.choice(EXPORT_SOURCE, project.getDefaultExportSource(), "what to compute (default: the project's)",
            project.getExportSourcesList().toArray(new String[0])));
        return params;
    }
}
