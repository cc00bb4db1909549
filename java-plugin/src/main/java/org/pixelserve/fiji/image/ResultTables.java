package org.pixelserve.fiji.image;

import ij.Macro;
import ij.measure.ResultsTable;
import java.util.function.Consumer;
import org.pixelserve.fiji.client.Table;

/**
 * Tables in ImageJ: a table the server sent as a ResultsTable (one row per row, numbers as
 * numbers, texts as strings), shown so that a macro can read it wherever it runs.
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
