package org.pixelserve.fiji.commands;

import ij.ImagePlus;
import ij.Macro;
import ij.Prefs;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.macro.Interpreter;
import java.awt.Component;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.pixelserve.fiji.PixelserveException;

/**
 * Gets a command's options: from the macro's options string when run from a macro (any
 * ImageJ, headless too: no dialog is ever made), else from a dialog, which ImageJ's recorder
 * turns into run("Command", "key=value ...") with the same keys.
 */
public final class OptionReader {
    /** Changes a dialog before it is shown; {@code fields} maps keys to their components. */
    public interface DialogHook {
        void customize(GenericDialog dialog, Map<String, Component> fields);
    }

    /**
     * Options that depend on the ones read first, e.g. a project's own options, known once the
     * project is: in a macro they are further keys of the same options string, interactively
     * a second dialog.
     */
    public interface FollowUp {
        /** The further options, given the first ones' values; none: no second dialog. */
        List<Param> params(Values first) throws PixelserveException;

        /** A line under the second dialog's fields (called after params). */
        String help();
    }

    private OptionReader() {
    }

    /** True when this command runs from a macro with options (no dialog then). */
    public static boolean fromMacro() {
        return Macro.getOptions() != null;
    }

    public static Values read(String command, List<Param> params, String help, DialogHook hook) throws PixelserveException {
        return read(command, params, help, hook, null);
    }

    /** The options of `params`, then those `more` adds given their values (null: none). */
    public static Values read(String command, List<Param> params, String help, DialogHook hook, FollowUp more)
            throws PixelserveException {
        String options = Macro.getOptions();
        if (options != null) {
            Map<String, String> given = MacroOptions.parse(options);
            if (more == null) {
                return fromMacro(command, params, given);
            }
            Values first;
            try {
                first = fromMacro(command, params, given, false);
            } catch (PixelserveException incomplete) {
                fromMacro(command, params, given);  // a misspelt key (projet=) says so before what it left out
                throw incomplete;
            }
            List<Param> all = new ArrayList<>(params);
            all.addAll(more.params(first));
            return fromMacro(command, all, given);
        }
        if (GraphicsEnvironment.isHeadless()) {
            throw new PixelserveException(command + " runs headless only from a macro with its options, e.g. run(\""
                + command + "\", \"" + example(params) + "\")");
        }
        Values first = fromDialog(command, params, help, hook);
        List<Param> further = more == null ? new ArrayList<>() : more.params(first);
        return further.isEmpty() ? first : first.with(fromDialog(command, further, more.help(), null));
    }

    static String example(List<Param> params) {
        StringBuilder text = new StringBuilder();
        for (Param param : params) {
            if (param.required) {
                text.append(text.length() == 0 ? "" : " ").append(param.key).append("=[...]");
            }
        }
        return text.toString();
    }

    /** Options of a macro, checked: unknown keys, missing required ones, images that are not open. */
    static Values fromMacro(String command, List<Param> params, Map<String, String> given) throws PixelserveException {
        return fromMacro(command, params, given, true);
    }

    /** `complete`: the params are every option, so any other key is a mistake. */
    private static Values fromMacro(String command, List<Param> params, Map<String, String> given, boolean complete)
            throws PixelserveException {
        List<String> keys = new ArrayList<>();
        for (Param param : params) {
            keys.add(param.key);
        }
        for (String key : given.keySet()) {
            if (complete && !keys.contains(key)) {
                throw new PixelserveException(command + " has no option '" + key + "': its options are "
                    + String.join(", ", keys) + " (docs/fiji.md)");
            }
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (Param param : params) {
            String value = given.get(param.key);
            if (value != null && value.startsWith("&") && value.length() > 1) {
                Interpreter interpreter = Interpreter.getInstance();
                String variable = interpreter == null ? null : interpreter.getVariableAsString(value.substring(1));
                if (variable != null && !variable.equals("NaN")) {
                    value = variable;
                }
            }
            values.put(param.key, macroValue(command, param, value));
        }
        return new Values(values);
    }

    private static String macroValue(String command, Param param, String value) throws PixelserveException {
        switch (param.kind) {
            case CHECKBOX:
                if (value == null) {
                    return "false";  // ImageJ's convention: a checkbox is on when its key is given
                }
                if (value.equals(MacroOptions.FLAG) || value.equalsIgnoreCase("true")) {
                    return "true";
                }
                if (value.equalsIgnoreCase("false")) {
                    return "false";
                }
                throw new PixelserveException(command + ": '" + param.key + "' is a checkbox: give the key alone to turn it on");
            case NUMBER:
                if (value == null || value.isEmpty()) {
                    return param.defaultValue;
                }
                try {
                    return Integer.toString((int) Double.parseDouble(value.trim()));
                } catch (NumberFormatException notANumber) {
                    throw new PixelserveException(command + ": " + param.key + "=" + value + " is not a number");
                }
            case IMAGE:
            case OPTIONAL_IMAGE:
                return imageTitle(command, param, value);
            case DECIMAL:
            case INTEGER:
                return numberText(command, param, value == null || value.equals(MacroOptions.FLAG) ? param.defaultValue : value);
            default:
                if (value == null) {  // not given: the default ("key=[]" gives an empty value)
                    if (param.required) {
                        throw new PixelserveException(command + " needs " + param.key + "=[...]: " + param.help);
                    }
                    return param.defaultValue;
                }
                if (value.equals(MacroOptions.FLAG)) {
                    value = "";
                }
                if (value.isEmpty() && param.required) {
                    throw new PixelserveException(command + " needs " + param.key + "=[...]: " + param.help);
                }
                if (param.kind == Param.Kind.CHOICE && !param.open && !value.isEmpty()) {
                    for (String choice : param.choices) {
                        if (choice.equalsIgnoreCase(value)) {
                            return choice;
                        }
                    }
                    throw new PixelserveException(command + ": " + param.key + "=" + value + " is not one of "
                        + String.join(", ", param.choices));
                }
                return value;
        }
    }

    /** A number as typed (so that the server gets exactly it), checked; empty: not given. */
    static String numberText(String command, Param param, String value) throws PixelserveException {
        String text = value.trim();
        if (text.isEmpty()) {
            return text;
        }
        try {
            if (param.kind == Param.Kind.INTEGER) {
                Long.parseLong(text);
            } else if (Double.isNaN(Double.parseDouble(text))) {
                throw new NumberFormatException(text);
            }
        } catch (NumberFormatException notANumber) {
            throw new PixelserveException(command + ": " + param.key + "=" + value + " is not "
                + (param.kind == Param.Kind.INTEGER ? "a whole number, e.g. " + param.key + "=3" : "a number, e.g. " + param.key + "=0.5"));
        }
        return text;
    }

    private static String imageTitle(String command, Param param, String value) throws PixelserveException {
        if (value == null || value.isEmpty() || value.equals(MacroOptions.FLAG)) {
            if (param.kind == Param.Kind.OPTIONAL_IMAGE) {
                return Param.NONE;
            }
            ImagePlus current = WindowManager.getCurrentImage();
            if (current == null) {
                throw new PixelserveException(command + " needs an image, and none is open: open one, or give "
                    + param.key + "=[title]");
            }
            return current.getTitle();
        }
        if (param.kind == Param.Kind.OPTIONAL_IMAGE && value.equalsIgnoreCase(Param.NONE)) {
            return Param.NONE;
        }
        if (WindowManager.getImage(value) == null) {
            throw new PixelserveException(command + ": no image titled '" + value + "' is open (" + param.key
                + "=[" + value + "]): open it, or give the title getTitle() returns");
        }
        return value;
    }

    // -- the dialog ----------------------------------------------------------------------------

    private static String remembered(String command, Param param) {
        return Prefs.get("pixelserve." + command.toLowerCase(Locale.ROOT).replace(' ', '_') + "." + param.key, param.defaultValue);
    }

    private static void remember(String command, Param param, String value) {
        Prefs.set("pixelserve." + command.toLowerCase(Locale.ROOT).replace(' ', '_') + "." + param.key, value);
    }

    static Values fromDialog(String command, List<Param> params, String help, DialogHook hook) throws PixelserveException {
        GenericDialog dialog = new GenericDialog(command);
        Map<String, Component> fields = new LinkedHashMap<>();
        String[] titles = WindowManager.getImageTitles();
        ImagePlus current = WindowManager.getCurrentImage();
        for (Param param : params) {
            String last = remembered(command, param);
            switch (param.kind) {
                case FILE:
                    dialog.addFileField(param.label(), last, 40);
                    fields.put(param.key, lastOf(dialog.getStringFields()));
                    break;
                case FOLDER:
                    dialog.addDirectoryField(param.label(), last, 40);
                    fields.put(param.key, lastOf(dialog.getStringFields()));
                    break;
                case DECIMAL:
                case INTEGER:
                    dialog.addStringField(param.label(), last, 10);
                    fields.put(param.key, lastOf(dialog.getStringFields()));
                    break;
                case TEXT:
                case SECRET:
                    if (param.kind == Param.Kind.SECRET) {
                        dialog.setEchoChar('*');
                    }
                    dialog.addStringField(param.label(), last, 30);
                    fields.put(param.key, lastOf(dialog.getStringFields()));
                    break;
                case NUMBER:
                    dialog.addNumericField(param.label(), Double.parseDouble(last.isEmpty() ? "0" : last), 0);
                    fields.put(param.key, lastOf(dialog.getNumericFields()));
                    break;
                case CHECKBOX:
                    dialog.addCheckbox(param.label(), Boolean.parseBoolean(last));
                    fields.put(param.key, lastOf(dialog.getCheckboxes()));
                    break;
                case IMAGE:
                case OPTIONAL_IMAGE: {
                    List<String> items = new ArrayList<>();
                    if (param.kind == Param.Kind.OPTIONAL_IMAGE) {
                        items.add(Param.NONE);
                    }
                    items.addAll(Arrays.asList(titles));
                    if (param.kind == Param.Kind.IMAGE && titles.length == 0) {
                        throw new PixelserveException(command + " needs an image: open one first");
                    }
                    String selected = param.kind == Param.Kind.IMAGE && current != null ? current.getTitle() : items.get(0);
                    dialog.addChoice(param.label(), items.toArray(new String[0]), selected);
                    fields.put(param.key, lastOf(dialog.getChoices()));
                    break;
                }
                default: {
                    String[] items = param.choices == null || param.choices.length == 0 ? new String[] {last} : param.choices;
                    dialog.addChoice(param.label(), items, Arrays.asList(items).contains(last) ? last : items[0]);
                    fields.put(param.key, lastOf(dialog.getChoices()));
                    break;
                }
            }
        }
        if (help != null && !help.isEmpty()) {
            dialog.addMessage(help);
        }
        if (hook != null) {
            hook.customize(dialog, fields);
        }
        dialog.showDialog();
        if (dialog.wasCanceled()) {
            throw new DialogCancelled();
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (Param param : params) {
            String value;
            switch (param.kind) {
                case FILE:
                case FOLDER:
                case TEXT:
                case SECRET:
                    value = dialog.getNextString().trim();
                    break;
                case DECIMAL:
                case INTEGER:
                    value = numberText(command, param, dialog.getNextString());
                    break;
                case NUMBER:
                    value = Integer.toString((int) dialog.getNextNumber());
                    break;
                case CHECKBOX:
                    value = Boolean.toString(dialog.getNextBoolean());
                    break;
                default:
                    value = dialog.getNextChoice();
                    break;
            }
            if (value.isEmpty() && param.required) {
                throw new PixelserveException(command + " needs " + param.label().replace('_', ' ') + ": " + param.help);
            }
            if (param.kind != Param.Kind.IMAGE && param.kind != Param.Kind.OPTIONAL_IMAGE) {
                remember(command, param, value);
            }
            values.put(param.key, value.isEmpty() ? param.defaultValue : value);
        }
        return new Values(values);
    }

    private static Component lastOf(java.util.Vector<?> components) {
        return components == null || components.isEmpty() ? null : (Component) components.lastElement();
    }

    /** The user closed the dialog with Cancel: nothing to report. */
    public static final class DialogCancelled extends PixelserveException {
        private static final long serialVersionUID = 1L;

        DialogCancelled() {
            super("cancelled");
        }
    }
}
