package org.pixelserve.fiji.client;

import java.util.Collections;
import java.util.List;

/** A table a prediction sent (TableHeader and its columns): named columns of numbers or texts. */
public final class Table {
    /** One column: numbers (every numeric dtype as a double), or texts. */
    public static final class Column {
        public final String name;
        /** The values of a numeric column; null for a text column. */
        public final double[] numbers;
        /** The values of a text column; null for a numeric column. */
        public final String[] texts;

        Column(String name, double[] numbers, String[] texts) {
            this.name = name;
            this.numbers = numbers;
            this.texts = texts;
        }

        public boolean isText() {
            return texts != null;
        }
    }

    /** Which table, e.g. "objects" (one of ProjectInfo.tables). */
    public final String name;
    public final int rows;
    public final List<Column> columns;
    /** The rows of every image of a run belong in one table (e.g. one count per image): TableHeader.per_run. */
    public final boolean perRun;

    Table(String name, int rows, List<Column> columns, boolean perRun) {
        this.name = name;
        this.rows = rows;
        this.columns = Collections.unmodifiableList(columns);
        this.perRun = perRun;
    }

    /** The values of the numeric column `name`; null when the table has no such column. */
    public double[] numbers(String name) {
        for (Column column : columns) {
            if (column.name.equals(name) && !column.isText()) {
                return column.numbers;
            }
        }
        return null;
    }
}
