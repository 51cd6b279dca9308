"""pipelines/camera.sh on its live test source, without a display (fakesink): the bundled nano
student at the source's full size with two frames in flight runs to the end, and a
--parallel-frames the element would ignore with a warning is refused with a message instead."""

import os
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "pipelines", "camera.sh")
NANO = os.path.join(ROOT, "pipelines", "models", "facades-labels2photo-nano.pt")


def camera(*extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([SCRIPT, "--test-source", "--frames", "12", "--size", "160x120", "-m", NANO, "-d", "cpu",
                           *extra], capture_output=True, text=True, timeout=300, env=env)


class Camera(unittest.TestCase):
    def test_nano_at_full_size_with_two_frames_in_flight(self):
        r = camera("-s", "native", "--parallel-frames", "2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Got EOS", r.stdout + r.stderr)
        self.assertNotIn("WARNING", r.stdout + r.stderr)

    def test_parallel_frames_out_of_the_elements_range_is_refused(self):
        for bad in ("0", "9", "two"):
            r = camera("--parallel-frames", bad)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(f"--parallel-frames {bad}: not a whole number from 1 to 8", r.stderr)


if __name__ == "__main__":
    unittest.main()
