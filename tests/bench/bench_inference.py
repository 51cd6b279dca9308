"""Inference benchmark, side by side and interleaved in one run: the Python PyTorch eager
reference of the official generator (torch.inference_mode), the engine's bare translation
(cg-bench --mode engine) and the element in a pipeline (videotestsrc ! cyclegan ! fakesink).
Prints ms/frame (median, p95), frames/s, GFLOP/s, % of the measured device ceiling, peak RSS and
ratios. Run through `meson test -C build --benchmark`, directly with the env of tests/bench, or on a
GPU machine through scripts/device-check.sh (one run per configuration, --json for its table).

Like for like: the eager reference runs in the engine's precision (fp32 as strict IEEE float, tf32
with cuDNN's TF32 convolutions, PyTorch's default) and, when --memory-format channels-last is
asked, channels-last too; with auto or contiguous it runs PyTorch's default contiguous layout."""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from reference import ResnetGenerator, init_normal  # noqa: E402

warnings.filterwarnings("ignore")
DEFAULT_THREADS = torch.get_num_threads()


def macs_per_frame(model, h, w):
    """Multiply-accumulates of one forward, counting a transposed conv per input pixel and tap."""
    total = 0

    def hook(m, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):
            total += inp[0][0].numel() * m.out_channels * k
        else:
            total += out[0].numel() * m.in_channels * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.inference_mode():
        model(torch.zeros(1, 3, h, w))
    for x in hs:
        x.remove()
    return total


def device_ceiling(threads, device, dtype):
    """The best GFLOP/s this LibTorch reaches on the device in the benchmark's precision, from a
    large matrix product and from the generator's dominant op (a 256-channel 3x3 convolution at
    64x64): the practical ceiling whole-model throughput is compared with. (The nominal peak needs
    the clock, which a container does not show reliably.)"""
    torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    n = 3072 if device == "cpu" else 8192
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    x = torch.randn(1 if device == "cpu" else 16, 256, 66, 66, device=device, dtype=dtype)
    w = torch.randn(256, 256, 3, 3, device=device, dtype=dtype)
    jobs = [(lambda: torch.mm(a, b), 2 * n**3),
            (lambda: torch.conv2d(x, w), 2 * x.shape[0] * 64 * 64 * 256 * 256 * 9)]
    best = 0.0
    with torch.inference_mode():
        for fn, flops in jobs:
            fn()
            for _ in range(5):
                sync()
                t = time.perf_counter()
                fn()
                sync()
                best = max(best, flops / (time.perf_counter() - t) / 1e9)
    return best


def eager_times(model, x, frames, threads):
    torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    out = []
    with torch.inference_mode():
        # Two passes: cuDNN's autotuner (benchmark mode) times its candidates on the first.
        model(x)
        model(x)
        sync()
        for _ in range(frames):
            t = time.perf_counter()
            model(x)
            sync()
            out.append((time.perf_counter() - t) * 1000 / x.shape[0])
    return out


def cg_bench(mode, args, model_path):
    cmd = [os.environ["CG_BENCH"], "--mode", mode, "--model", model_path, "--device", args.device,
           "--precision", args.precision, "--memory-format", args.memory_format, "--width", str(args.w),
           "--height", str(args.h), "--frames", str(args.frames), "--threads", str(args.threads),
           "--warmup", str(args.warmup), "--batch", str(args.batch)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{run.stderr.strip()}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", default="256x256")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=4, help="frames per variant per round")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "fp16", "bf16"])
    p.add_argument("--memory-format", default="auto", choices=["auto", "contiguous", "channels-last"])
    p.add_argument("--warmup", type=int, default=1, help="untimed passes of cg-bench per round")
    p.add_argument("--no-element", action="store_true", help="time the engine only (cg-bench without GStreamer)")
    p.add_argument("--gpt", help="the exported G.pt: reused when it exists, else written there")
    p.add_argument("--no-ceiling", action="store_true",
                   help="skip the device ceiling (a bf16 matrix product takes minutes on CPUs without native bf16)")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--blocks", type=int, default=9)
    p.add_argument("--batch", type=int, default=1, help="frames per forward pass (times are per frame)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    args.w, args.h = (int(v) for v in args.size.split("x"))

    torch.manual_seed(0)
    ref = init_normal(ResnetGenerator(ngf=args.ngf, n_blocks=args.blocks)).eval()
    macs = macs_per_frame(ref, args.h, args.w)
    tmp = tempfile.TemporaryDirectory()
    pth, gpt = os.path.join(tmp.name, "G.pth"), args.gpt or os.path.join(tmp.name, "G.pt")
    # The same seed gives the same weights, so a G.pt exported by an earlier run is this model.
    if not os.path.exists(gpt):
        torch.save(ref.state_dict(), pth)
        subprocess.run([os.environ["CG_TRAINER"], "export", "--from", pth, "--to", gpt], check=True,
                       capture_output=True)

    dtype = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    device = "cuda" if args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if device != "cpu":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    layout = torch.channels_last if args.memory_format == "channels-last" else torch.contiguous_format
    ref = ref.to(device, dtype).to(memory_format=layout)
    x = (torch.rand(args.batch, 3, args.h, args.w) * 2 - 1).to(device, dtype).contiguous(memory_format=layout)
    variants = {f"python eager, {args.threads} threads": [], "engine (bare)": [], "element (pipeline)": []}
    if device != "cpu":
        variants = {"python eager": [], "engine (bare)": [], "element (pipeline)": []}
    if args.no_element:
        del variants["element (pipeline)"]
    eager_default = f"python eager, default {DEFAULT_THREADS} threads"
    if DEFAULT_THREADS != args.threads and device == "cpu":
        variants[eager_default] = []
    rss = {}
    engine_device = ""
    errors = {}
    python_variants = True
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
        if python_variants:
            variants[next(iter(variants))] += eager_times(ref, x, args.frames, args.threads)
            if eager_default in variants and device == "cpu":
                variants[eager_default] += eager_times(ref, x, args.frames, DEFAULT_THREADS)
        for mode, name in [("engine", "engine (bare)"), ("element", "element (pipeline)")]:
            if name not in variants or name in errors:
                continue
            # A failing variant (the element without a setting the engine has, say) is reported and
            # the others are still timed; the exit status says that something failed.
            try:
                res = cg_bench(mode, args, gpt)
            except RuntimeError as e:
                errors[name] = str(e)
                print(e, file=sys.stderr)
                continue
            variants[name] += res["ms"]
            rss[name] = max(rss.get(name, 0), res["maxrss_kb"])
            if mode == "engine":
                engine_device = res.get("device", "")
    py_rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
    for k in variants:
        if k.startswith("python"):
            rss[k] = py_rss

    peak = 0.0 if args.no_ceiling else device_ceiling(args.threads, device, dtype)
    gflop = 2 * macs / 1e9
    device_name = torch.cuda.get_device_name(0) if device != "cpu" else (platform.processor() or platform.machine())
    print(f"\n{device_name}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.size}, batch {args.batch}, ngf {args.ngf}, {args.blocks} blocks, {args.device} {args.precision}, "
          f"memory format {args.memory_format} (engine: {engine_device}), "
          f"{gflop:.1f} GFLOP/frame, " + (f"ceiling {peak:.0f} GFLOP/s ({args.precision}, best of matmul and 3x3 conv)"
                                          if peak else "ceiling not measured"))
    print(f"{'variant':34} {'median ms':>10} {'p95 ms':>8} {'fps':>7} {'GFLOP/s':>8} {'% ceil':>7} {'RSS MiB':>8}")
    results = {}
    for name, ms in variants.items():
        if not ms:
            continue
        ms_sorted = sorted(ms)
        med = statistics.median(ms)
        p95 = ms_sorted[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
        results[name] = {"median_ms": med, "p95_ms": p95, "fps": 1000 / med, "gflops": gflop / (med / 1000),
                         "rss_mib": rss.get(name, 0) / 1024}
        r = results[name]
        ceiling = f"{100 * r['gflops'] / peak:6.0f}%" if peak else f"{'-':>7}"
        print(f"{name:34} {med:10.1f} {p95:8.1f} {r['fps']:7.2f} {r['gflops']:8.0f} {ceiling} {r['rss_mib']:8.0f}")
    for name, e in errors.items():
        print(f"{name:34} FAILED: {e.splitlines()[-1]}")
    if "engine (bare)" in results and "element (pipeline)" in results:
        eng = results["engine (bare)"]["median_ms"]
        el = results["element (pipeline)"]["median_ms"]
        print(f"\nelement / engine time: {el / eng:.3f} (target <= 1.10)")
        for name in variants:
            if name.startswith("python") and name in results:
                print(f"speed-up of the element over {name}: {results[name]['median_ms'] / el:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "device_name": device_name, "engine_device": engine_device,
                       "torch": torch.__version__, "gflop_per_frame": gflop, "ceiling_gflops": peak,
                       "results": results, "errors": {k: v.splitlines()[-1] for k, v in errors.items()}}, f,
                      indent=2)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
