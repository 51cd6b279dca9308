"""The element and `cg-trainer test` run the same engine: the same image, at sizes that are not
multiples of 4 (so padding and cropping are exercised), gives byte-identical pixels through
`gst-launch-1.0 ... ! cyclegan ! ...` and through `cg-trainer test`."""

import os
import shutil
import struct
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


def png_size(path):
    """(width, height) from the PNG's IHDR chunk, read directly so that a wrong size is reported as
    such rather than as a caps negotiation failure further on."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def rgbx(path):
    """The pixels of the PNG `path` as RGBx bytes: 4-byte pixels, so rows carry no padding. The size
    is not forced here: a frame of the wrong size must show up as one, not be rescaled or refused."""
    with tempfile.NamedTemporaryFile(suffix=".raw") as raw:
        gst(f"filesrc location={path} ! pngdec ! videoconvert ! video/x-raw,format=RGBx",
            f"! filesink location={raw.name}")
        with open(raw.name, "rb") as f:
            return f.read()


def pixel_mismatch(ours, theirs, width, height):
    """None when the two RGBx images of width x height are identical byte for byte, else what
    differs: a length first (a short or long output), then the count of differing pixels and the
    first of them, so that a failure says where to look."""
    expected = width * height * 4
    if len(ours) != expected or len(theirs) != expected:
        return f"lengths {len(ours)} (cg-trainer test) and {len(theirs)} (element), expected {expected}"
    if ours == theirs:
        return None
    differing = [i for i in range(width * height) if ours[4 * i:4 * i + 4] != theirs[4 * i:4 * i + 4]]
    first = differing[0]
    return (f"{len(differing)} of {width * height} pixels differ; the first at x={first % width}, "
            f"y={first // width}: RGBx {tuple(ours[4 * first:4 * first + 4])} from cg-trainer test, "
            f"{tuple(theirs[4 * first:4 * first + 4])} from the element")


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
        ours_png = os.path.join(out, "frame.png")
        self.assertEqual(png_size(ours_png), (width, height), "cg-trainer test's output size")
        self.assertEqual(png_size(element_png), (width, height), "the element's output size")
        ours, theirs = rgbx(ours_png), rgbx(element_png)
        mismatch = pixel_mismatch(ours, theirs, width, height)
        if mismatch is not None:
            self.fail(f"at {width}x{height}: {mismatch}")
        # Identical outputs prove nothing if both are the input passed through untranslated.
        self.assertIsNotNone(pixel_mismatch(ours, rgbx(image), width, height), "the output is the input")

    def test_mismatch_is_seen(self):
        """The comparison itself: a truncated, a longer or an altered image is reported, with the
        first differing pixel; identical ones are not."""
        width, height = 3, 2
        image = bytes(range(width * height * 4))
        self.assertIsNone(pixel_mismatch(image, bytes(image), width, height))
        self.assertIn("lengths", pixel_mismatch(image, image[:-4], width, height))
        self.assertIn("lengths", pixel_mismatch(image[:-1], image, width, height))
        self.assertIn("lengths", pixel_mismatch(image, image + b"\0" * 4, width, height))
        altered = bytearray(image)
        altered[4 * 4 + 1] ^= 1  # one level of G, pixel 4 = (x=1, y=1)
        altered[4 * 5 + 2] ^= 8
        self.assertEqual(pixel_mismatch(image, bytes(altered), width, height),
                         "2 of 6 pixels differ; the first at x=1, y=1: RGBx (16, 17, 18, 19) from cg-trainer test, "
                         "(16, 16, 18, 19) from the element")

    def test_odd_size(self):
        self.check(250, 166, "snow")

    def test_tiny_size(self):
        self.check(7, 5, "snow")

    def test_multiple_of_four(self):
        self.check(64, 48, "smpte")


if __name__ == "__main__":
    unittest.main()
