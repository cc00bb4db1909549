package org.pixelserve.fiji.commands;

import ij.ImagePlus;
import ij.WindowManager;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.pixelserve.fiji.Connections;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.client.ArrayWriter;
import org.pixelserve.fiji.client.Prediction;
import org.pixelserve.fiji.client.Table;
import org.pixelserve.fiji.image.Compatibility;
import org.pixelserve.fiji.image.ImageArrayWriter;
import org.pixelserve.fiji.image.ImageLayout;
import org.pixelserve.fiji.image.ResultStyler;
import org.pixelserve.fiji.image.ResultTables;
import org.pixelserve.fiji.image.StackAssembler;
import org.pixelserve.v1.ExportSettings;
import org.pixelserve.v1.InputRole;
import org.pixelserve.v1.PredictHeader;
import org.pixelserve.v1.ProjectInfo;
import org.pixelserve.v1.RoleInput;
import org.pixelserve.v1.WorkflowType;

/**
 * Runs an ilastik project on open images through the server: checks that the server runs the
 * workflow and that the images fit the project, streams them with the project's own options,
 * follows the progress, and shows what comes back: the image as {@code <input>-<export
 * source>}, each table as a ResultsTable {@code <input>-<table>}. A subclass says which
 * workflow it runs and which images it takes ({@link #imageInputs()}); the project's own
 * options follow once the project is known (a second dialog, or further macro keys).
 */
public abstract class WorkflowCommand extends PixelserveCommand {
    public static final String PROJECT = "project";
    public static final String EXPORT_SOURCE = "export_source";
    public static final String RAW_DATA = "raw_data";

    /** Every command named after a workflow, for messages that point to the right one. */
    static final List<WorkflowCommand> ALL = Arrays.asList(new PixelClassification(), new Autocontext(),
        new ObjectClassification(), new Multicut(), new Counting(), new Tracking());

    private Connections.Connected connected;
    private ProjectOptions.FollowUp described;

    /** Whether this command runs projects of the workflow the server calls `title` (ProjectInfo.title). */
    boolean runs(String title) {
        return name().equals(title);
    }

    /**
     * The images the workflow takes, keyed like ilastik's headless flags: raw_data (required)
     * first, then e.g. prediction_mask, prediction_maps, segmentation_image.
     */
    protected abstract List<Param> imageInputs();

    /** Export sources to list before the server has described the project. */
    protected List<String> knownExportSources() {
        return Arrays.asList("Probabilities", "Simple Segmentation", "Uncertainty", "Features");
    }

    @Override
    public List<Param> params() {
        List<Param> params = new ArrayList<>();
        params.add(project());
        params.addAll(imageInputs());
        params.add(Param.openChoice(EXPORT_SOURCE, "", "what to compute, e.g. Probabilities (default: the project's)",
            knownExportSources().toArray(new String[0])));
        return params;
    }

    static Param project() {
        return Param.required(PROJECT, Param.Kind.FILE, "the .ilp project file (a path on the server's machine)");
    }

    @Override
    protected String help() {
        return "Project: a path on the server's machine (the same as here for a local server).";
    }

    @Override
    protected void prepare(IjMonitor monitor) throws PixelserveException {
        connected = connect(monitor);
        List<String> titles = new ArrayList<>();
        for (WorkflowType type : connected.info.getWorkflowTypesList()) {
            if (runs(type.getTitle())) {
                return;
            }
            titles.add(type.getTitle());
        }
        throw new PixelserveException("The pixelserve server " + connected.info.getVersion() + " at " + connected.client.target()
            + " does not run " + name() + " projects yet (it runs " + String.join(", ", titles)
            + " projects): update the server once a version with " + name() + " is out");
    }

    @Override
    protected OptionReader.DialogHook dialogHook() {
        return new ProjectDialog(connected.client, this::runs, name());
    }

    @Override
    protected OptionReader.FollowUp followUp(IjMonitor monitor) {
        described = new ProjectOptions.FollowUp(connected.client, monitor, project -> {
            if (!runs(project.getTitle())) {
                throw wrongWorkflow(project);
            }
            return projectInputs(project);
        });
        return described;
    }

    /** Options that come from the project itself besides its own settings (its images, for a command that knows none). */
    protected List<Param> projectInputs(ProjectInfo project) {
        return new ArrayList<>();
    }

    /** The macro key of an input role: its headless flag without dashes. */
    static String key(InputRole role) {
        return role.getFlag().replaceFirst("^--", "");
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) throws PixelserveException {
        ProjectInfo info = described.info();
        String exportSource = exportSource(values.get(EXPORT_SOURCE), info);
        PredictHeader.Builder header = PredictHeader.newBuilder().setProject(values.get(PROJECT));
        Map<Integer, ArrayWriter> arrays = new LinkedHashMap<>();
        ImagePlus raw = null;
        long bytes = 0;
        for (int index = 0; index < info.getInputRolesCount(); index++) {
            InputRole role = info.getInputRoles(index);
            String key = key(role);
            if (!takesInput(info, key)) {
                throw new PixelserveException(new File(info.getProject()).getName() + " takes a '" + role.getName()
                    + "' input, which this plugin does not know: update the pixelserve plugin");
            }
            String title = index == 0 ? values.get(key) : values.image(key);  // the first role's image is always given
            if (title == null || title.isEmpty()) {
                if (role.getRequired()) {
                    throw new PixelserveException(name() + " needs " + key + "=[image title] for the project's '"
                        + role.getName() + "' input");
                }
                continue;
            }
            ImagePlus image = WindowManager.getImage(title);
            if (image == null) {
                throw new PixelserveException("No image titled '" + title + "' is open (" + key + ")");
            }
            if (raw == null) {
                raw = image;
                Compatibility.check(title, ImageLayout.of(image), info, role);
            }
            ImageArrayWriter writer = new ImageArrayWriter(image, ImageLayout.IMAGEJ_ORDER, monitor);
            bytes += writer.layout().bytes();
            arrays.put(header.getInputsCount(), writer);
            header.addInputs(RoleInput.newBuilder().setRole(role.getName()).setArray(writer.header()));
        }
        if (raw == null) {
            throw new PixelserveException("The project names no input roles: is it a trained " + info.getTitle() + " project?");
        }
        for (Param param : imageInputs()) {
            if (values.image(param.key) != null && !takes(info, param.key)) {
                throw new PixelserveException(new File(info.getProject()).getName() + " takes no " + param.key.replace('_', ' ')
                    + " (it takes " + roleNames(info) + "): leave out " + param.key + "=");
            }
        }
        long limit = connected.info.getMaxRequestBytes();
        if (limit > 0 && bytes > limit) {
            throw new PixelserveException("The images have " + bytes + " bytes, more than the server's limit of " + limit
                + " (pixelserve serve --max-request-bytes): crop the image, or raise the limit");
        }
        ImageLayout layout = ImageLayout.of(raw);
        String order = layout.axes(ImageLayout.IMAGEJ_ORDER);
        if (order.indexOf('c') < 0) {
            order = order.replace("yx", "cyx");
        }
        ExportSettings.Builder settings = ExportSettings.newBuilder().setExportSource(exportSource).setOutputAxisOrder(order);
        ProjectOptions.apply(info, values, settings);
        header.setImageName(raw.getTitle()).setExportSettings(settings).setTables(info.getTablesCount() > 0);
        final StackAssembler[] image = new StackAssembler[1];
        Prediction prediction = connected.client.predict(header.build(), arrays,
            resultHeader -> image[0] = new StackAssembler(resultHeader.getArray()), monitor);
        if (prediction.image != null) {
            ImagePlus result = image[0].toImage(ResultStyler.title(raw.getTitle(), prediction.image.getExportSource()),
                ResultStyler.compositeMode(prediction.image, image[0].channels()));
            ResultStyler.style(result, prediction.image, raw.getCalibration());
            decorate(result, prediction.tables);
            result.show();
        }
        for (Table table : prediction.tables) {
            ResultTables.show(table.perRun ? table.name : ResultStyler.title(raw.getTitle(), table.name), table);
        }
    }

    /** What the workflow adds to its result image from its tables before it is shown (Tracking: the tracks); nothing by default. */
    protected void decorate(ImagePlus result, List<Table> tables) {
    }

    private static boolean takes(ProjectInfo info, String key) {
        for (InputRole role : info.getInputRolesList()) {
            if (key(role).equals(key)) {
                return true;
            }
        }
        return false;
    }

    private static String roleNames(ProjectInfo info) {
        List<String> names = new ArrayList<>();
        for (InputRole role : info.getInputRolesList()) {
            names.add(role.getName());
        }
        return String.join(", ", names);
    }

    /** Whether one of this command's options names the image of the role keyed `key`. */
    private boolean takesInput(ProjectInfo info, String key) {
        for (Param param : imageInputs()) {
            if (param.key.equals(key)) {
                return true;
            }
        }
        for (Param param : projectInputs(info)) {
            if (param.key.equals(key)) {
                return true;
            }
        }
        return false;
    }

    /** The export source as the project spells it; empty: the project's default. */
    static String exportSource(String given, ProjectInfo info) throws PixelserveException {
        if (given == null || given.isEmpty()) {
            return info.getDefaultExportSource();
        }
        for (String source : info.getExportSourcesList()) {
            if (source.equalsIgnoreCase(given.trim())) {
                return source;
            }
        }
        throw new PixelserveException(new File(info.getProject()).getName() + " has no export source '" + given
            + "': choose one of " + String.join(", ", info.getExportSourcesList()));
    }

    private PixelserveException wrongWorkflow(ProjectInfo info) {
        String file = new File(info.getProject()).getName();
        for (WorkflowCommand command : ALL) {
            if (command.runs(info.getTitle())) {
                return new PixelserveException(file + " is a '" + info.getWorkflow() + "' project: run it with Plugins > pixelserve > "
                    + command.name());
            }
        }
        return new PixelserveException(file + " is a '" + info.getWorkflow() + "' project: run it with Plugins > pixelserve > "
            + RunProject.NAME);
    }

    static Param rawData() {
        return Param.required(RAW_DATA, Param.Kind.IMAGE, "the image to process (default: the current image)");
    }

    static Param optionalImage(String key, String help) {
        return Param.optional(key, Param.Kind.OPTIONAL_IMAGE, Param.NONE, help);
    }
}
