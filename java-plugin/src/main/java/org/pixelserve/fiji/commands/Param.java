package org.pixelserve.fiji.commands;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.pixelserve.v1.WorkflowOption;

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
        NUMBER,
        /** a folder path (on the server), with a Browse button */
        FOLDER,
        /** a number typed as text (e.g. 0.5), passed on as typed; empty: not given */
        DECIMAL,
        /** a whole number typed as text, passed on as typed; empty: not given */
        INTEGER
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

    /**
     * A workflow's own option (ProjectInfo.options: its headless flag --name, gRPC option and
     * macro key name): yes/no a checkbox, a list of choices a choice, numbers and whole
     * numbers checked text, a path a file field, anything else text.
     */
    public static Param of(WorkflowOption option) {
        String help = option.getHelp();
        if (option.getChoicesCount() > 0) {
            // Without a default the option is not given unless chosen: an empty first choice.
            List<String> choices = new ArrayList<>(option.getChoicesList());
            if (option.getDefault().isEmpty()) {
                choices.add(0, "");
            }
            return new Param(option.getName(), Kind.CHOICE, option.getDefault(), false, help,
                choices.toArray(new String[0]), false);
        }
        switch (option.getKind()) {
            case "yes/no":
                return optional(option.getName(), Kind.CHECKBOX, Boolean.toString(option.getDefault().equalsIgnoreCase("true")), help);
            case "number":
                return optional(option.getName(), Kind.DECIMAL, option.getDefault(), help);
            case "integer":
                return optional(option.getName(), Kind.INTEGER, option.getDefault(), help);
            case "path":
                return optional(option.getName(), Kind.FILE, option.getDefault(), help);
            default:
                return optional(option.getName(), Kind.TEXT, option.getDefault(), help);
        }
    }

    /** The dialog label: "export_source" is labelled "Export_source", shown as "Export source". */
    public String label() {
        return key.substring(0, 1).toUpperCase(Locale.ROOT) + key.substring(1);
    }
}
