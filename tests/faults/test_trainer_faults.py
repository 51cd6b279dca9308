"""Trainer faults, from outside the process as they happen to users: kill -9 at random moments
(many of them inside a save) followed by --continue-train, a full disk, and an image that turns
corrupt while training runs. CG_TRAINER names the binary."""

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

TRAINER = os.environ["CG_TRAINER"]
TINY = ["--ngf", "4", "--ndf", "4", "--netG", "resnet_1blocks", "--preprocess", "none", "--seed", "1",
        "--device", "cpu", "--threads", "1", "--num-threads", "1", "--display-freq", "100000"]


def run(*args, **kw):
    return subprocess.run([TRAINER, *args], capture_output=True, text=True, timeout=600, **kw)


class TrainerFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cg-faults-")
        self.data = os.path.join(self.tmp, "data")
        made = run("synth", "--out", self.data, "--count", "12", "--test-count", "2", "--size", "32", "--seed", "5")
        self.assertEqual(made.returncode, 0, made.stderr)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def train_args(self, ckpt, epochs, *extra):
        return ["train", "--dataroot", self.data, "--name", "t", "--checkpoints-dir", ckpt, "--n-epochs", str(epochs),
                "--n-epochs-decay", "0", *TINY, *extra]

    def test_kill9_at_random_moments_then_resume(self):
        ckpt = os.path.join(self.tmp, "ck")
        rng = random.Random(int(os.environ.get("CG_FAULT_SEED", "7")))
        epochs = 25  # 12 iterations each, a save after every iteration
        args = self.train_args(ckpt, epochs, "--save-latest-freq", "1")
        kills = 0
        first = True
        for _ in range(8):
            proc = subprocess.Popen([TRAINER, *args, *([] if first else ["--continue-train"])],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.3, 2.0))
            if proc.poll() is not None:
                err = proc.stderr.read()
                self.assertEqual(proc.returncode, 0, err)
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            kills += 1
            if os.path.exists(os.path.join(ckpt, "t", "latest_checkpoint.pt")):
                first = False
        final = run(*args, *([] if first else ["--continue-train"]))
        self.assertEqual(final.returncode, 0, final.stderr)
        self.assertIn("training done", final.stdout + final.stderr)
        info = run("info", os.path.join(ckpt, "t", "G_A.pt"))
        self.assertEqual(info.returncode, 0, info.stderr)
        print(f"kill -9: {kills} kills, resumed each time, training completed")
        self.assertGreater(kills, 0)

    def test_full_disk_keeps_previous_checkpoint(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        disk = os.path.join(self.tmp, "disk")
        os.makedirs(disk)
        size_kb = 2600  # one checkpoint (~1.5 MB) fits, a second one beside it does not
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", disk]).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        try:
            res = run(*self.train_args(disk, 3, "--save-latest-freq", "4"))
            self.assertNotEqual(res.returncode, 0, "training on a full disk must fail")
            self.assertRegex(res.stderr, r"(No space left on device|cannot write)")
            latest = os.path.join(disk, "t", "latest_checkpoint.pt")
            self.assertTrue(os.path.exists(latest), "the previous checkpoint must survive")
            leftovers = [f for f in os.listdir(os.path.join(disk, "t")) if ".tmp" in f]
            self.assertEqual(leftovers, [], "temporary files must be removed")
            # The surviving checkpoint resumes on a disk with room.
            roomy = os.path.join(self.tmp, "roomy")
            shutil.copytree(disk, roomy)
            again = run(*self.train_args(roomy, 3, "--save-latest-freq", "1000"), "--continue-train")
            self.assertEqual(again.returncode, 0, again.stderr)
            print(f"full disk ({size_kb} KiB tmpfs): clear error, previous checkpoint resumed")
        finally:
            subprocess.run(["umount", disk])

    def test_image_corrupted_mid_training_is_skipped_and_counted(self):
        ckpt = os.path.join(self.tmp, "ck")
        proc = subprocess.Popen([TRAINER, *self.train_args(ckpt, 40, "--save-latest-freq", "100000")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        victim = os.path.join(self.data, "trainA", sorted(os.listdir(os.path.join(self.data, "trainA")))[3])
        with open(victim, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n this image is now corrupt")
        out, _ = proc.communicate(timeout=600)
        self.assertEqual(proc.returncode, 0, out)
        self.assertRegex(out, r"\d+ unreadable or corrupt image\(s\) skipped")
        print("corrupt image mid-epoch: skipped and counted, training completed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
