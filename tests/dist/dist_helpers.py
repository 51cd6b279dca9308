"""What the distributed tests share: a free loopback port, a CSV's row count, a worker's pid and a
G.pt's weights."""

import os
import socket
import time

import torch


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(path):
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except OSError:
        return 0


def rank_pid(name, rank, deadline):
    """The pid of the cg-trainer worker of experiment `name` with RANK=`rank`, once it runs."""
    while time.time() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if cmd[0].endswith(b"cg-trainer") and name.encode() in cmd and f"RANK={rank}".encode() in env:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"rank {rank} of {name} never started")


def weights(path):
    return {k: v.clone() for k, v in torch.jit.load(path).state_dict().items()}
