package org.pixelserve.fiji.image;

import ij.Macro;
import ij.measure.ResultsTable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.pixelserve.fiji.client.Table;

/**
 * Tables in ImageJ: a table the server sent as a ResultsTable (one row per row, numbers as
 * numbers, texts as strings), shown so that a macro can read it wherever it runs. A per-run
 * table (one row per image, e.g. Counting's counts) grows from image to image, as Analyze >
 * Measure adds to the Results table: closing its window, or Clear Results in a macro, starts
 * it afresh.
 */
public final class ResultTables {
    private ResultTables() {
    }

    /** Adds the rows of `table` to `target`. */
    public static void fill(ResultsTable target, Table table) {
        for (int row = 0; row < table.rows; row++) {
            target.incrementCounter();
            for (Table.Column column : table.columns) {
                if (column.isText()) {
                    target.addValue(column.name, column.texts[row]);
                } else {
                    target.addValue(column.name, column.numbers[row]);
                }
            }
        }
    }

    /**
     * Shows `table` as the table titled `title`, or, for a per-run table, adds its rows to the
     * open table of that title; run from a macro, also to the Results table when that holds
     * the same columns (an earlier image's rows), else the Results table starts with them.
     */
    public static void show(String title, Table table) {
        if (!table.perRun) {
            show(title, results -> fill(results, table));
            return;
        }
        ResultsTable open = ResultsTable.getResultsTable(title);
        ResultsTable target = open != null ? open : new ResultsTable();
        fill(target, table);
        target.show(title);
        if (Macro.getOptions() != null) {
            ResultsTable results = ResultsTable.getResultsTable();
            if (!holds(results, table)) {
                results.reset();
            }
            fill(results, table);
            results.show("Results");
        }
    }

    /** Whether `results` has rows and exactly the columns of `table`. */
    static boolean holds(ResultsTable results, Table table) {
        List<String> names = new ArrayList<>();
        for (Table.Column column : table.columns) {
            names.add(column.name);
        }
        return results.size() > 0 && Arrays.asList(results.getHeadings()).equals(names);
    }

    /**
     * Shows a table titled `title` in its own window (macros read it with Table.get(column,
     * row, title)). Run from a macro, it also becomes the Results table (getResult, nResults):
     * a headless ImageJ holds no other table, and the same macro then works everywhere.
     */
    public static ResultsTable show(String title, Consumer<ResultsTable> fill) {
        ResultsTable table = new ResultsTable();
        fill.accept(table);
        table.show(title);
        if (Macro.getOptions() != null) {
            ResultsTable results = ResultsTable.getResultsTable();
            results.reset();
            fill.accept(results);
            results.show("Results");
        }
        return table;
    }
}
