"""Drives the Fiji plugin from Python in one process through scyjava/JPype (run by
tests/test_fiji.py in a subprocess, so that its JVM never outlives the test).

    python tests/fiji_jpype_driver.py CONFIG.json

CONFIG holds the jars, the plugins folder, the server's port and token, the project and the
images. Prints one JSON object: what was checked, and how long it took.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import scyjava


def main(config_path: str) -> int:
    with open(config_path) as file:
        config = json.load(file)
    scyjava.config.set_java_constraints(fetch="never")  # never download a JDK
    for jar in config["classpath"]:
        scyjava.config.add_classpath(jar)
    scyjava.config.add_option("-Djava.awt.headless=true")
    scyjava.config.add_option(f"-Dplugins.dir={config['plugins_dir']}")
    scyjava.config.add_option(f"-Duser.home={config['home']}")
    scyjava.start_jvm()
    import jpype

    IJ = scyjava.jimport("ij.IJ")
    ImagePlus = scyjava.jimport("ij.ImagePlus")
    ByteProcessor = scyjava.jimport("ij.process.ByteProcessor")
    WindowManager = scyjava.jimport("ij.WindowManager")
    Interpreter = scyjava.jimport("ij.macro.Interpreter")
    HeadlessImageJ = scyjava.jimport("org.pixelserve.fiji.testing.HeadlessImageJ")
    HeadlessImageJ.installCommands()
    Interpreter.batchMode = True
    failures = jpype.JClass("org.pixelserve.fiji.commands.Failures", loader=IJ.getClassLoader())
    report: dict = {}

    IJ.run("Server Settings", f"host=127.0.0.1 port={config['port']} token=[{config['token']}] command=[]")

    # A numpy image in, an ImageJ result out, compared with the Python client's result.
    image = np.load(config["image"])
    height, width = image.shape
    processor = ByteProcessor(width, height, jpype.JArray(jpype.JByte)(image.astype(np.int8).ravel()))
    imp = ImagePlus("from numpy", processor)
    imp.show()
    started = time.perf_counter()
    IJ.run(imp, "Pixel Classification", f"project=[{config['project']}] raw_data=[from numpy] export_source=Probabilities")
    report["predict_seconds"] = time.perf_counter() - started
    result = WindowManager.getImage("from numpy-Probabilities")
    assert result is not None, failures.takeLast()
    planes = [np.array(result.getStack().getPixels(n + 1), dtype=np.float32).reshape(height, width)
              for n in range(result.getStackSize())]
    from pixelserve.client import Client

    with Client(f"127.0.0.1:{config['port']}", token=config["token"]) as client:
        expected = client.predict(config["project"], image, "yx", output_axis_order="cyx").array
    report["channels"] = len(planes)
    report["max_difference"] = float(np.abs(np.stack(planes) - expected).max())
    report["labels"] = [str(result.getStack().getSliceLabel(n + 1)) for n in range(result.getStackSize())]

    # Esc while the server computes: the call is cancelled, no result appears.
    big = IJ.openImage(config["big_image"])
    big.show()
    outcome: dict = {}

    def run_big():
        begin = time.perf_counter()
        try:
            IJ.run(big, "Pixel Classification", f"project=[{config['project']}] raw_data=[{big.getTitle()}]")
            outcome["returned"] = "normally"
        except jpype.JException as error:  # ImageJ stops a failed command with "Macro canceled"
            outcome["returned"] = str(error)
        outcome["seconds"] = time.perf_counter() - begin

    thread = threading.Thread(target=run_big)
    thread.start()
    time.sleep(config["escape_after"])
    KeyEvent = scyjava.jimport("java.awt.event.KeyEvent")
    pressed = time.perf_counter()
    IJ.setKeyDown(KeyEvent.VK_ESCAPE)
    thread.join(60)
    report["cancel_returned_after"] = time.perf_counter() - pressed
    report["cancel_outcome"] = outcome.get("returned")
    report["cancel_message"] = str(failures.takeLast())
    report["cancel_result_shown"] = WindowManager.getImage(big.getTitle().replace(".tif", "") + "-Probabilities") is not None
    print(json.dumps(report))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
