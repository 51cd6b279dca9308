"""cg-trainer under torchrun on 127.0.0.1: ranks train one model, agree, fail and restart as
torchrun users expect. Each launch is bounded in time."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import torch
from dist_helpers import free_port, rank_pid, rows, weights

TRAINER = os.environ["CG_TRAINER"]
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--preprocess", "none", "--no-flip",
        "--seed", "3", "--device", "cpu", "--threads", "1", "--num-threads", "1", "--print-freq", "1"]


class Torchrun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cg-torchrun-")
        cls.data = os.path.join(cls.dir, "data")
        subprocess.run([TRAINER, "synth", "--out", cls.data, "--count", "8", "--test-count", "1", "--size", "32"],
                       check=True, stdout=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def train_args(self, name, *extra):
        return ["train", "--dataroot", self.data, "--checkpoints-dir", os.path.join(self.dir, "ck"), "--name", name,
                *TINY, *extra]

    def torchrun(self, name, *extra, nproc=2, launcher=(), timeout=120, wait=True):
        cmd = [TORCHRUN, f"--nproc-per-node={nproc}", "--master-addr=127.0.0.1", f"--master-port={free_port()}",
               *launcher, "--no-python", TRAINER, *self.train_args(name, *extra)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if not wait:
            return p
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out

    def experiment(self, name):
        return os.path.join(self.dir, "ck", name)

    def test_two_ranks_of_batch_1_equal_one_process_of_batch_2(self):
        alone = subprocess.run([TRAINER, *self.train_args("alone", "--batch-size", "2", "--pool-size", "0",
                                                          "--max-iters", "1")],
                               capture_output=True, text=True, timeout=120)
        self.assertEqual(alone.returncode, 0, alone.stdout + alone.stderr)
        rc, out = self.torchrun("pair", "--batch-size", "1", "--pool-size", "0", "--max-iters", "1")
        self.assertEqual(rc, 0, out)
        lr = 2e-4
        for g in ("G_A.pt", "G_B.pt"):
            a, b = weights(os.path.join(self.experiment("alone"), g)), weights(os.path.join(self.experiment("pair"), g))
            self.assertEqual(a.keys(), b.keys())
            # Every conv bias but the last one feeds an instance norm, which subtracts it again: its
            # gradient is zero up to rounding noise, and Adam's first step, lr * g / (|g| + eps),
            # turns that noise into +-lr whichever way the noise falls. Those biases can only be
            # held to 2 lr; every other weight to 1e-6.
            last_bias = [k for k in a if k.endswith("bias")][-1]  # G.pt names: model_23_bias
            cancelled = [k for k in a if k.endswith("bias") and k != last_bias]
            exact = [k for k in a if k not in cancelled]
            worst = max((a[k] - b[k]).abs().max().item() for k in exact)
            noise = max((a[k] - b[k]).abs().max().item() for k in cancelled)
            print(f"{g}: largest |2 ranks x 1 - 1 process x 2| = {worst:.2e} over {len(exact)} tensors; "
                  f"{noise:.2e} on the {len(cancelled)} norm-cancelled biases")
            self.assertLess(worst, 1e-6)
            self.assertLessEqual(noise, 2 * lr * 1.001)

    def test_buckets_sent_during_backward_train_the_same_weights_as_after_it(self):
        # Step 1 averages at the end, step 2 learns the order, steps 3-5 overlap: the generators'
        # one backward and the discriminators' two (D_A's buckets can leave before D_B's pass).
        for name, overlap in (("overlap", "1"), ("at-end", "0")):
            rc, out = self.torchrun(name, "--max-iters", "5", "--dist-overlap", overlap)
            self.assertEqual(rc, 0, out)
        for g in ("G_A.pt", "G_B.pt"):
            a = weights(os.path.join(self.experiment("overlap"), g))
            b = weights(os.path.join(self.experiment("at-end"), g))
            self.assertEqual(a.keys(), b.keys())
            for k in a:
                self.assertTrue(bool((a[k] == b[k]).all()), f"{g} {k}")

    def test_ranks_stay_identical_and_rank_0_alone_writes(self):
        rc, out = self.torchrun("sync", "--check-sync", "1", "--max-iters", "6", "--save-latest-freq", "2")
        self.assertEqual(rc, 0, out)
        self.assertIn("on each of 2 ranks", out)
        self.assertEqual(out.count("cg-trainer: 8 images"), 1, out)  # rank 1 prints nothing
        files = sorted(os.listdir(self.experiment("sync")))
        self.assertIn("latest_checkpoint.pt", files)
        self.assertIn("latest_checkpoint.pt.rank1", files)
        self.assertEqual(rows(os.path.join(self.experiment("sync"), "loss_log.csv")), 1 + 6)  # one writer

    def test_a_distillation_trains_across_ranks_too(self):
        teacher = subprocess.run([TRAINER, *self.train_args("teacher", "--max-iters", "1")], capture_output=True,
                                 text=True, timeout=120)
        self.assertEqual(teacher.returncode, 0, teacher.stdout + teacher.stderr)
        args = ["distill", "--teacher", os.path.join(self.experiment("teacher"), "G_A.pt"), "--dataroot", self.data,
                "--checkpoints-dir", os.path.join(self.dir, "ck"), "--name", "distill", "--student-ngf", "4",
                "--student-blocks", "2", "--check-sync", "1", "--max-iters", "4", *TINY[4:]]
        cmd = [TORCHRUN, "--nproc-per-node=2", "--master-addr=127.0.0.1", f"--master-port={free_port()}",
               "--no-python", TRAINER, *args]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("on each of 2 ranks", run.stdout)
        self.assertEqual(rows(os.path.join(self.experiment("distill"), "loss_log.csv")), 1 + 4)
        self.assertTrue(os.path.exists(os.path.join(self.experiment("distill"), "G.pt")))

    def test_resume_with_the_same_ranks_is_exact(self):
        rc, out = self.torchrun("whole", "--max-iters", "4", "--pool-size", "2")
        self.assertEqual(rc, 0, out)
        rc, out = self.torchrun("split", "--max-iters", "2", "--pool-size", "2")
        self.assertEqual(rc, 0, out)
        rc, out = self.torchrun("split", "--max-iters", "4", "--pool-size", "2", "--continue-train")
        self.assertEqual(rc, 0, out)
        for g in ("G_A.pt", "G_B.pt"):
            a, b = weights(os.path.join(self.experiment("whole"), g)), weights(os.path.join(self.experiment("split"), g))
            self.assertTrue(all(torch.equal(a[k], b[k]) for k in a), g)
        rc, out = self.torchrun("split", "--max-iters", "6", "--continue-train", nproc=1)
        self.assertEqual(rc, 0, out)
        self.assertIn("resuming a run of 2 rank(s) with 1", out)

    def test_two_launches_of_one_node_each_train_together(self):
        port = free_port()
        procs = []
        for node in (0, 1):
            cmd = [TORCHRUN, "--nnodes=2", f"--node-rank={node}", "--nproc-per-node=1", "--master-addr=127.0.0.1",
                   f"--master-port={port}", "--no-python", TRAINER,
                   *self.train_args("nodes", "--check-sync", "1", "--max-iters", "3")]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        outs = [p.communicate(timeout=120)[0] for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0], outs)
        self.assertIn("on each of 2 ranks", outs[0])

    def kill_rank_1_midway(self, name, launcher=()):
        log = os.path.join(self.experiment(name), "loss_log.csv")
        p = self.torchrun(name, "--max-iters", "40", "--save-latest-freq", "4", "--dist-timeout", "20",
                          launcher=launcher, wait=False)
        deadline = time.time() + 60
        while time.time() < deadline and rows(log) < 10:
            time.sleep(0.05)
        os.kill(rank_pid(name, 1, deadline), signal.SIGKILL)
        start = time.time()
        out, _ = p.communicate(timeout=120)
        return p.returncode, out, time.time() - start

    def test_a_killed_rank_is_restarted_from_the_latest_checkpoint(self):
        rc, out, _ = self.kill_rank_1_midway("restart", launcher=("--max-restarts=1",))
        self.assertEqual(rc, 0, out)
        self.assertIn("torchrun restart 1: resuming from", out)
        self.assertIn("reached --max-iters 40", out)

    def test_without_restarts_the_others_stop_within_the_timeout(self):
        rc, out, seconds = self.kill_rank_1_midway("dies")
        self.assertNotEqual(rc, 0, out)
        self.assertLess(seconds, 60)

    def test_a_signal_to_one_rank_stops_every_rank_at_the_same_iteration(self):
        port = free_port()
        procs = []
        for rank in (0, 1):
            env = dict(os.environ, WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
            procs.append(subprocess.Popen([TRAINER, *self.train_args("signal", "--max-iters", "10000", "--pool-size",
                                                                     "2", "--dist-timeout", "20")],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        log = os.path.join(self.experiment("signal"), "loss_log.csv")
        deadline = time.time() + 60
        while time.time() < deadline and rows(log) < 1 + 3:
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGTERM)  # rank 1 alone
        outs = [p.communicate(timeout=60)[0] for p in procs]
        self.assertEqual([p.returncode for p in procs], [0, 0], outs)
        done = int(re.search(r"interrupted by SIGTERM: saved .* at iteration (\d+)", outs[0]).group(1))
        self.assertEqual(rows(log), 1 + done)
        # Rank 1 saved its state at the same iteration: the resume pairs the two without a warning.
        rc, out = self.torchrun("signal", "--max-iters", str(done + 1), "--pool-size", "2", "--continue-train")
        self.assertEqual(rc, 0, out)
        self.assertIn(f"({done} done)", out)
        self.assertNotIn("not bitwise", out)

    def run_ranks_by_hand(self, name, extra_by_rank, port=None, env_by_rank=None, max_iters=1):
        port = port or free_port()
        procs = []
        for rank, extra in enumerate(extra_by_rank):
            env = dict(os.environ, WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), **(env_by_rank or [{}, {}])[rank])
            procs.append(subprocess.Popen([TRAINER, *self.train_args(name, "--max-iters", str(max_iters),
                                                                     "--dist-timeout", "10", *extra)],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        return [(p.communicate(timeout=60)[0], p.returncode) for p in procs]

    def assert_ranks_refuse(self, name, extra_by_rank, *differences, env_by_rank=None):
        results = self.run_ranks_by_hand(name, extra_by_rank, env_by_rank=env_by_rank)
        for out, rc in results:
            self.assertNotEqual(rc, 0, out)
            self.assertIn("the ranks differ in what they were given", out)
            for d in differences:
                self.assertIn(d, out)
        return results

    def test_ranks_with_different_options_refuse_to_train(self):
        self.assert_ranks_refuse("mismatch", [["--ngf", "4"], ["--ngf", "8"]], "\n  --ngf: 4 on rank 0; 8 on rank 1")

    def test_ranks_must_agree_on_the_options_that_decide_the_collectives_too(self):
        # A rank with a smaller --max-iters would leave the others waiting; one with another
        # --check-sync would gather while they all-reduce.
        self.assert_ranks_refuse("iters", [["--max-iters", "2"], ["--max-iters", "3"]],
                                 "--max-iters: 2 on rank 0; 3 on rank 1")
        self.assert_ranks_refuse("sync", [["--check-sync", "1"], []], "--check-sync: 1 on rank 0; 0 on rank 1")

    def test_ranks_with_different_copies_of_the_data_refuse_to_train(self):
        other = os.path.join(self.dir, "data7")
        subprocess.run([TRAINER, "synth", "--out", other, "--count", "7", "--test-count", "1", "--size", "32"],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        out, _ = self.assert_ranks_refuse("data", [[], ["--dataroot", other]],
                                          "images in A: 8 on rank 0; 7 on rank 1")[1]
        self.assertNotIn("--dataroot", out)  # a path of its machine: the ranks may differ in it

    def test_a_rank_whose_folder_is_empty_resumes_from_rank_0s_checkpoint(self):
        # After a torchrun restart rank 0's folder holds the checkpoint; rank 1's, on another
        # machine's disk, is empty. Rank 1 receives rank 0's bytes through the process group.
        rc, out = self.torchrun("found", "--max-iters", "2")
        self.assertEqual(rc, 0, out)
        empty = os.path.join(self.dir, "empty")
        restart = {"TORCHELASTIC_RESTART_COUNT": "1"}
        (out0, rc0), (out1, rc1) = self.run_ranks_by_hand("found", [[], ["--checkpoints-dir", empty]],
                                                          env_by_rank=[restart, restart], max_iters=3)
        self.assertEqual((rc0, rc1), (0, 0), out0 + out1)
        self.assertIn("torchrun restart 1: resuming from", out0)
        self.assertIn("at epoch 1, iteration 2 (2 done)", out0)
        self.assertIn("reached --max-iters 3", out0)
        # Without its own state (its pools and random state) rank 1 says the resume is not bitwise.
        self.assertIn("latest_checkpoint.pt.rank1: missing", out1)
        self.assertEqual(os.listdir(os.path.join(empty, "found")), ["latest_checkpoint.pt.rank1"])
        self.assertEqual(rows(os.path.join(self.experiment("found"), "loss_log.csv")), 1 + 3)

        # Rank 0 is the one that reads: a checkpoint in another rank's folder alone is refused.
        (out0, rc0), (out1, rc1) = self.run_ranks_by_hand("found", [["--checkpoints-dir", empty], []],
                                                          env_by_rank=[restart, restart], max_iters=4)
        for out, rc in ((out0, rc0), (out1, rc1)):
            self.assertNotEqual(rc, 0, out)
            self.assertIn("to resume from, but rank(s) 1 have one in their own folder", out)
        self.assertIn("rank 0: no checkpoint " + os.path.join(empty, "found", "latest_checkpoint.pt"), out0)

    def test_a_rank_state_of_another_iteration_is_refused_and_the_resume_goes_on(self):
        rc, out = self.torchrun("stale", "--max-iters", "2", "--pool-size", "2")
        self.assertEqual(rc, 0, out)
        state = os.path.join(self.experiment("stale"), "latest_checkpoint.pt.rank1")
        shutil.copy(state, state + ".old")
        rc, out = self.torchrun("stale", "--max-iters", "3", "--continue-train")
        self.assertEqual(rc, 0, out)
        os.replace(state + ".old", state)  # as if killed between rank 0's save and rank 1's
        rc, out = self.torchrun("stale", "--max-iters", "4", "--continue-train")
        self.assertEqual(rc, 0, out)
        self.assertIn("latest_checkpoint.pt.rank1: belongs to iteration 2 (epoch 1, iteration 2), but the "
                      "checkpoint to iteration 3 (epoch 1, iteration 3)", out)
        self.assertIn("continues from the checkpoint, but not bitwise", out)
        self.assertIn("reached --max-iters 4", out)

    def test_a_failed_save_on_one_rank_stops_every_rank_with_its_error(self):
        # Rank 1's checkpoint folder, on its own machine, is a full disk.
        disk = os.path.join(self.dir, "full")
        os.makedirs(disk)
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", disk],
                                               capture_output=True).returncode != 0:
            self.skipTest("a full disk is a small tmpfs, which needs root")
        try:
            start = time.time()
            common = ["--max-iters", "4", "--save-latest-freq", "2", "--dist-timeout", "40"]
            results = self.run_ranks_by_hand("full", [common, [*common, "--checkpoints-dir", disk]])
            seconds = time.time() - start
        finally:
            subprocess.run(["umount", disk], timeout=30)
        for out, rc in results:
            self.assertNotEqual(rc, 0, out)
            self.assertRegex(out, r"rank 1: .*latest_checkpoint.pt.rank1.*No space left on device")
        self.assertIn("so rank 0 stops too", results[0][0])
        self.assertLess(seconds, 20)  # not --dist-timeout

    def test_bad_set_ups_say_what_is_wrong(self):
        env = dict(os.environ, WORLD_SIZE="2", RANK="0")
        env.pop("MASTER_ADDR", None)
        r = subprocess.run([TRAINER, *self.train_args("bad")], env=env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("WORLD_SIZE=2 but MASTER_ADDR is not set", r.stderr + r.stdout)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            out, rc = self.run_ranks_by_hand("busy", [[]], port=busy.getsockname()[1])[0]
        self.assertNotEqual(rc, 0)
        self.assertIn("the port is in use", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
