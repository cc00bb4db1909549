package org.pixelserve.fiji.commands;

import ij.IJ;
import ij.measure.ResultsTable;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.pixelserve.fiji.CancelledException;
import org.pixelserve.fiji.Connections;
import org.pixelserve.fiji.IjMonitor;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.fiji.image.ResultTables;
import org.pixelserve.v1.BatchRequest;
import org.pixelserve.v1.BatchResponse;
import org.pixelserve.v1.BatchSummary;
import org.pixelserve.v1.ExportSettings;
import org.pixelserve.v1.FileOutcome;
import org.pixelserve.v1.ProjectInfo;

/**
 * Plugins &gt; pixelserve &gt; Batch Process Folder: a project over the files of a folder, run
 * on the server as `pixelserve --headless` runs them (the server reads and writes the files,
 * inside its allowed roots), with one progress bar for the folder and Cancel. A summary
 * table lists each file: written (with its outputs) or failed (with the reason); when files
 * failed the command ends with an error naming them, after the others were written.
 */
public final class BatchProcessFolder extends PixelserveCommand {
    static final String FOLDER = "folder";
    static final String PATTERN = "pattern";
    static final String OUTPUT_NAME = "output_filename_format";
    /** The output formats the dialog lists; a macro may give any the server knows. */
    static final String[] FORMATS = {"compressed hdf5", "hdf5", "tif", "tiff", "multipage tiff", "png", "numpy", "n5",
        "compressed n5", "zarr", "single-scale OME-Zarr", "multi-scale OME-Zarr"};

    /** Failed files whose reasons the error message repeats; the table lists all. */
    private static final int SHOWN_FAILURES = 5;

    private Connections.Connected connected;
    private ProjectOptions.FollowUp described;

    @Override
    public String name() {
        return "Batch Process Folder";
    }

    @Override
    public List<Param> params() {
        return Arrays.asList(
            WorkflowCommand.project(),
            Param.required(FOLDER, Param.Kind.FOLDER, "the folder of the images (a path on the server's machine)"),
            Param.optional(PATTERN, Param.Kind.TEXT, "*", "which files of the folder, e.g. cells_*.tif"),
            Param.openChoice(WorkflowCommand.EXPORT_SOURCE, "", "what to compute (default: the project's)"),
            Param.openChoice(ProjectDialog.OUTPUT_FORMAT, "", "the output format (default: the project's, else compressed hdf5)",
                FORMATS),
            Param.optional(OUTPUT_NAME, Param.Kind.TEXT, "",
                "the output file names, with ilastik's placeholders (default: {dataset_dir}/{nickname}_{result_type})"));
    }

    @Override
    protected String help() {
        return "Paths are on the server's machine. Output names take ilastik's placeholders;\n"
            + "empty: the project's, else {dataset_dir}/{nickname}_{result_type} (next to\n"
            + "the images); a relative name is relative to the folder.";
    }

    @Override
    protected void prepare(IjMonitor monitor) throws PixelserveException {
        connected = connect(monitor);
    }

    @Override
    protected OptionReader.DialogHook dialogHook() {
        return new ProjectDialog(connected.client, title -> true, name());
    }

    @Override
    protected OptionReader.FollowUp followUp(IjMonitor monitor) {
        described = new ProjectOptions.FollowUp(connected.client, monitor, project -> new ArrayList<>());
        return described;
    }

    @Override
    protected void execute(Values values, IjMonitor monitor) throws PixelserveException {
        ProjectInfo info = described.info();
        ExportSettings.Builder settings = ExportSettings.newBuilder()
            .setExportSource(WorkflowCommand.exportSource(values.get(WorkflowCommand.EXPORT_SOURCE), info));
        ProjectOptions.apply(info, values, settings);
        BatchRequest request = BatchRequest.newBuilder()
            .setProject(values.get(WorkflowCommand.PROJECT)).setFolder(values.get(FOLDER)).setPattern(values.get(PATTERN))
            .setExportSettings(settings).setOutputFormat(values.get(ProjectDialog.OUTPUT_FORMAT))
            .setOutputFilenameFormat(values.get(OUTPUT_NAME)).build();
        List<String> files = Collections.synchronizedList(new ArrayList<>());
        Map<Integer, FileOutcome> outcomes = new ConcurrentHashMap<>();
        String title = new File(values.get(FOLDER)).getName() + "-batch";
        BatchSummary summary;
        try {
            summary = connected.client.runBatch(request, response -> {
                if (response.getKindCase() == BatchResponse.KindCase.FILES) {
                    files.addAll(response.getFiles().getPathsList());
                } else if (response.getKindCase() == BatchResponse.KindCase.FILE) {
                    outcomes.put(response.getFile().getIndex(), response.getFile());
                }
            }, monitor);
        } catch (CancelledException cancelled) {
            showSummary(title, files, outcomes);  // the files finished before the cancel stay
            throw cancelled;
        }
        showSummary(title, files, outcomes);
        IJ.log("pixelserve " + name() + ": " + summary.getWritten() + " of " + summary.getFiles() + " files written"
            + (summary.getFailed() > 0 ? ", " + summary.getFailed() + " failed" : "") + " (table '" + title + "')");
        if (summary.getFailed() > 0) {
            List<String> reasons = new ArrayList<>();
            for (int index = 0; index < files.size(); index++) {
                FileOutcome outcome = outcomes.get(index);
                if (outcome != null && !outcome.getError().isEmpty() && reasons.size() < SHOWN_FAILURES) {
                    reasons.add(new File(outcome.getPath()).getName() + ": " + outcome.getError());
                }
            }
            if (summary.getFailed() > reasons.size()) {
                reasons.add("and " + (summary.getFailed() - reasons.size()) + " more");
            }
            throw new PixelserveException(summary.getFailed() + " of " + summary.getFiles() + " files failed, the others were written"
                + " (the table '" + title + "' lists every file): " + String.join("; ", reasons));
        }
    }

    /** One row per file: its name, status (written, failed, or not run when cancelled), outputs and the reason. */
    private static void showSummary(String title, List<String> files, Map<Integer, FileOutcome> outcomes) {
        ResultTables.show(title, table -> {
            for (int index = 0; index < files.size(); index++) {
                FileOutcome outcome = outcomes.get(index);
                addRow(table, files.get(index), outcome == null ? "not run" : outcome.getError().isEmpty() ? "written" : "failed",
                    outcome == null ? "" : String.join("; ", outcome.getWrittenList()), outcome == null ? "" : outcome.getError());
            }
        });
    }

    private static void addRow(ResultsTable table, String file, String status, String outputs, String reason) {
        table.incrementCounter();
        table.addValue("file", new File(file).getName());
        table.addValue("status", status);
        table.addValue("outputs", outputs);
        table.addValue("reason", reason);
    }
}
