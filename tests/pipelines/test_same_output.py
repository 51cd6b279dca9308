"""The element and `cg-trainer test` run the same engine: the same image, at sizes that are not
multiples of 4 (so padding and cropping are exercised), gives byte-identical pixels through
`gst-launch-1.0 ... ! cyclegan ! ...` and through `cg-trainer test`."""

import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CG_BUILD_DIR", os.path.join(ROOT, "build"))
TRAINER = os.path.join(BUILD, "trainer", "cg-trainer")
MODEL = os.path.join(ROOT, "pipelines", "models", "facades-labels2photo.pt")


def gst(*pipeline):
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(BUILD, "plugin"))
    run = subprocess.run(["gst-launch-1.0", "-q", *" ".join(pipeline).split(" ")], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    return run


def rgbx(path, width, height):
    """The pixels of `path` (a PNG, or raw RGBx) as RGBx bytes: 4-byte pixels, so rows carry no padding."""
    with tempfile.NamedTemporaryFile(suffix=".raw") as raw:
        gst(f"filesrc location={path} ! pngdec ! videoconvert ! video/x-raw,format=RGBx,width={width},height={height}",
            f"! filesink location={raw.name}")
        with open(raw.name, "rb") as f:
            return f.read()


class SameOutput(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def check(self, width, height, pattern):
        src = os.path.join(self.dir, "in")
        os.makedirs(src)
        image = os.path.join(src, "frame.png")
        gst(f"videotestsrc num-buffers=1 pattern={pattern} ! video/x-raw,format=RGB,width={width},height={height}",
            f"! pngenc ! filesink location={image}")
        # The element, on the image decoded as GStreamer decodes it.
        element_png = os.path.join(self.dir, "element.png")
        gst(f"filesrc location={image} ! pngdec ! videoconvert ! video/x-raw,format=RGB",
            f"! cyclegan model={MODEL} device=cpu ! videoconvert ! pngenc ! filesink location={element_png}")
        # cg-trainer test, on the same file decoded by OpenCV.
        out = os.path.join(self.dir, "out")
        run = subprocess.run([TRAINER, "test", "--model", MODEL, "--input", src, "--output", out, "--device", "cpu"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr)
        ours = rgbx(os.path.join(out, "frame.png"), width, height)
        theirs = rgbx(element_png, width, height)
        self.assertEqual(len(ours), width * height * 4)
        differing = sum(1 for a, b in zip(ours, theirs) if a != b)
        self.assertEqual(differing, 0, f"{differing} bytes differ at {width}x{height}")
        # And the translation did something: the output is not the input.
        self.assertNotEqual(ours, rgbx(image, width, height))

    def test_odd_size(self):
        self.check(250, 166, "snow")

    def test_tiny_size(self):
        self.check(7, 5, "snow")

    def test_multiple_of_four(self):
        self.check(64, 48, "smpte")


if __name__ == "__main__":
    unittest.main()
