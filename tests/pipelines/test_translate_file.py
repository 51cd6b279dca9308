"""pipelines/translate-file.sh on short generated clips with the bundled demo model: the result
decodes, has the input's frame count and resolution, and keeps the audio track when the input
had one; bad inputs fail with a message and leave no output behind."""

import json
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "pipelines", "translate-file.sh")
MODEL = os.path.join(ROOT, "pipelines", "models", "facades-labels2photo.pt")


def gst(*pipeline):
    run = subprocess.run(["gst-launch-1.0", "-q", "-e", *pipeline], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run


def make_clip(path, frames, width, height, audio):
    pipeline = [f"videotestsrc num-buffers={frames} pattern=smpte", "!",
                f"video/x-raw,width={width},height={height},framerate=10/1", "!", "videoconvert", "!",
                "video/x-raw,format=I420", "!", "x264enc", "!", "h264parse", "!", "mp4mux name=mux", "!",
                f"filesink location={path}"]
    if audio:
        pipeline += [f"audiotestsrc num-buffers={frames * 4}", "!", "audioconvert", "!", "avenc_aac", "!", "aacparse",
                     "!", "mux."]
    gst(*" ".join(pipeline).split(" "))


def decoded_frames(path, width, height):
    """Counts frames by decoding to raw RGBx (4-byte pixels, so rows carry no padding)."""
    with tempfile.NamedTemporaryFile() as raw:
        gst("filesrc", f"location={path}", "!", "qtdemux", "!", "h264parse", "!", "avdec_h264", "!", "videoconvert", "!",
            f"video/x-raw,format=RGBx,width={width},height={height}", "!", "filesink", f"location={raw.name}")
        size = os.path.getsize(raw.name)
    assert size % (width * height * 4) == 0
    return size // (width * height * 4)


def streams(path):
    out = subprocess.run(["gst-discoverer-1.0", path], capture_output=True, text=True, timeout=120).stdout
    return out


class TranslateFile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def translate(self, src, dst, *extra):
        return subprocess.run([SCRIPT, "-m", MODEL, "-d", "cpu", *extra, src, dst], capture_output=True, text=True,
                              timeout=600)

    def test_clip_with_audio(self):
        src, dst = os.path.join(self.tmp.name, "in.mp4"), os.path.join(self.tmp.name, "out.mp4")
        make_clip(src, 12, 96, 64, audio=True)
        run = self.translate(src, dst)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(decoded_frames(dst, 96, 64), decoded_frames(src, 96, 64))
        info = streams(dst)
        self.assertIn("Width: 96", info)
        self.assertIn("Height: 64", info)
        self.assertRegex(info, r"audio #\d+: MPEG-4 AAC")
        self.assertFalse(os.path.exists(dst + ".part"))

    def test_clip_without_audio_odd_size(self):
        src, dst = os.path.join(self.tmp.name, "in.mp4"), os.path.join(self.tmp.name, "out.mp4")
        make_clip(src, 7, 50, 38, audio=False)
        run = self.translate(src, dst)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(decoded_frames(dst, 50, 38), 7)
        self.assertNotRegex(streams(dst), r"audio #")

    def test_temporal_switch_lowers_flicker(self):
        """--temporal sets temporal=flow: every frame still comes out, and the output's warping error
        along the input's motion (cg-trainer flicker) is lower than the per-frame output's."""
        src = os.path.join(self.tmp.name, "moving.mp4")
        gst(*(f"videotestsrc num-buffers=24 pattern=smpte horizontal-speed=1 ! "
              "video/x-raw,width=96,height=64,framerate=10/1 ! videoconvert ! video/x-raw,format=I420 ! x264enc ! "
              f"h264parse ! mp4mux ! filesink location={src}").split(" "))
        errors = {}
        for name, extra in (("off", ()), ("flow", ("--temporal",))):
            dst = os.path.join(self.tmp.name, name + ".mp4")
            run = self.translate(src, dst, *extra)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(decoded_frames(dst, 96, 64), 24)
            trainer = os.path.join(os.environ["CG_BUILD_DIR"], "trainer", "cg-trainer")
            out = subprocess.run([trainer, "flicker", "--input", src, "--output", dst, "--json"], capture_output=True,
                                 text=True, timeout=300)
            self.assertEqual(out.returncode, 0, out.stderr)
            errors[name] = json.loads(out.stdout)["output_warping_error"]
        self.assertLess(errors["flow"], 0.8 * errors["off"], errors)

    def test_bad_inputs_fail_cleanly(self):
        dst = os.path.join(self.tmp.name, "out.mp4")
        missing = self.translate(os.path.join(self.tmp.name, "none.mp4"), dst)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("none.mp4: no such file", missing.stderr)
        garbage = os.path.join(self.tmp.name, "garbage.mp4")
        with open(garbage, "wb") as f:
            f.write(os.urandom(4096))
        bad = self.translate(garbage, dst)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("garbage.mp4", bad.stderr)
        src = os.path.join(self.tmp.name, "in.mp4")
        make_clip(src, 3, 32, 32, audio=False)
        unwritable = self.translate(src, "/nonexistent-folder/out.mp4")
        self.assertNotEqual(unwritable.returncode, 0)
        self.assertIn("/nonexistent-folder", unwritable.stderr)
        bad_model = subprocess.run([SCRIPT, "-m", garbage, src, dst], capture_output=True, text=True, timeout=300)
        self.assertNotEqual(bad_model.returncode, 0)
        self.assertIn("not a loadable TorchScript model", bad_model.stderr)
        self.assertFalse(os.path.exists(dst))
        self.assertFalse(os.path.exists(dst + ".part"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
