package org.pixelserve.fiji.commands;

import java.util.Locale;

/**
 * One option of a command: its macro key (stable, documented in docs/fiji.md), what kind of
 * value it takes, and its default. The dialog label is the key with a capital and spaces for
 * underscores, so that ImageJ's recorder writes exactly the key ("export_source=...").
 */
public final class Param {
    public enum Kind {
        /** free text */
        TEXT,
        /** free text shown as stars in the dialog (a token) */
        SECRET,
        /** a file path (on the server), with a Browse button */
        FILE,
        /** the title of an open image; default: the current image */
        IMAGE,
        /** the title of an open image, or None */
        OPTIONAL_IMAGE,
        /** one of a list (the list may be filled when the dialog opens) */
        CHOICE,
        /** on when the key is given (ImageJ's macro convention) */
        CHECKBOX,
        /** a whole number */
        NUMBER
    }

    public static final String NONE = "None";

    public final String key;
    public final Kind kind;
    public final String defaultValue;
    public final boolean required;
    public final String help;
    final String[] choices;
    /** A choice whose list depends on something else (the project): macros may give any value. */
    final boolean open;

    private Param(String key, Kind kind, String defaultValue, boolean required, String help, String[] choices, boolean open) {
        this.key = key;
        this.kind = kind;
        this.defaultValue = defaultValue;
        this.required = required;
        this.help = help;
        this.choices = choices;
        this.open = open;
    }

    public static Param required(String key, Kind kind, String help) {
        return new Param(key, kind, "", true, help, null, false);
    }

    public static Param optional(String key, Kind kind, String defaultValue, String help) {
        return new Param(key, kind, defaultValue, false, help, null, false);
    }

    public static Param choice(String key, String defaultValue, String help, String... choices) {
        return new Param(key, Kind.CHOICE, defaultValue, false, help, choices, false);
    }

    /** A choice listed in the dialog whose valid values are checked later (e.g. by the project). */
    public static Param openChoice(String key, String defaultValue, String help, String... choices) {
        return new Param(key, Kind.CHOICE, defaultValue, false, help, choices, true);
    }

    /** The dialog label: "export_source" is labelled "Export_source", shown as "Export source". */
    public String label() {
        return key.substring(0, 1).toUpperCase(Locale.ROOT) + key.substring(1);
    }
}
