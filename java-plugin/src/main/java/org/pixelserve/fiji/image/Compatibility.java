package org.pixelserve.fiji.image;

import java.io.File;
import org.pixelserve.fiji.PixelserveException;
import org.pixelserve.v1.InputRole;
import org.pixelserve.v1.ProjectInfo;

/** Checks an image against the data a project was trained on, before anything is sent. */
public final class Compatibility {
    private Compatibility() {
    }

    /** Throws with one sentence that says what does not fit and how to fix it. */
    public static void check(String title, ImageLayout image, ProjectInfo project, InputRole role) throws PixelserveException {
        String name = new File(project.getProject()).getName();
        int channels = role.getChannels();
        if (channels > 0 && image.channels != channels) {
            throw new PixelserveException("'" + title + "' has " + describeChannels(image) + " but " + name
                + " was trained on images with " + plural(channels, "channel") + ": " + channelFix(image, channels));
        }
        int dims = role.getSpatialDims();
        if (dims == 2 && image.slices > 1) {
            throw new PixelserveException("'" + title + "' has " + image.slices + " slices (z) but " + name
                + " was trained on 2D images: if the slices are time points, make them frames "
                + "(Image > Properties: slices=1, frames=" + (image.slices * image.frames) + "), or use a 3D project");
        }
        if (dims == 3 && image.slices == 1) {
            throw new PixelserveException("'" + title + "' is 2D (one slice) but " + name
                + " was trained on 3D volumes: open a stack whose slices are z planes (Image > Properties "
                + "if they were read as frames), or use a 2D project");
        }
        int minimum = project.getMinImageSize();
        if (minimum > 0) {
            boolean small = image.width < minimum || image.height < minimum || (dims == 3 && image.slices < minimum);
            if (small) {
                throw new PixelserveException("'" + title + "' is " + image.describe() + " but " + name
                    + " needs at least " + minimum + " pixels along each spatial axis (its largest filter): use a larger image");
            }
        }
    }

    private static String describeChannels(ImageLayout image) {
        return image.rgb ? "3 channels (RGB)" : plural(image.channels, "channel");
    }

    private static String channelFix(ImageLayout image, int wanted) {
        if (wanted == 1 && image.rgb) {
            return "make it grayscale (Image > Type > 8-bit) or pick one colour (Image > Color > Split Channels)";
        }
        if (wanted == 1) {
            return "keep one channel (Image > Color > Split Channels, or Image > Hyperstacks > Reduce Dimensionality)";
        }
        if (wanted == 3 && image.channels == 1) {
            return "give an RGB image or a hyperstack with 3 channels";
        }
        return "give an image with " + plural(wanted, "channel") + " (Image > Hyperstacks > Stack to Hyperstack sets the channel count)";
    }

    static String plural(int count, String word) {
        return count + " " + word + (count == 1 ? "" : "s");
    }
}
